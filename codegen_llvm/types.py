"""How tc dtypes live in LLVM: in registers and in memory (bool is i1 vs i8)."""

from __future__ import annotations

from ..ir import DType
from . import llvm_ir as ll

I1 = ll.IntType(1)
I8 = ll.IntType(8)
I32 = ll.IntType(32)
I64 = ll.IntType(64)
# BLAS's integer arguments (passed by reference, Fortran style) are stored as 64-bit
# integers: an ILP64 BLAS (numpy's OpenBLAS) reads all eight bytes, an LP64 one (scipy's)
# the first four, which on a little-endian machine are the same number while it fits in 32
# bits (the calls check m, n, k < 2^31 and fall back to loops otherwise).
BLAS_INT = I64
F32 = ll.FloatType()
F64 = ll.DoubleType()
I8_PTR = I8.as_pointer()


def register_type(dtype: DType) -> ll.Type:
    """The type of one element while it is being computed."""
    if dtype is DType.BOOL:
        return I1
    if dtype is DType.F64:
        return F64
    if dtype is DType.F32:
        return F32
    return ll.IntType(dtype.bits)


def memory_type(dtype: DType) -> ll.Type:
    """The type of one element in a numpy buffer."""
    return I8 if dtype is DType.BOOL else register_type(dtype)


def load_element(builder: ll.IRBuilder, dtype: DType, address: ll.Value) -> ll.Value:
    ptr = builder.bitcast(address, memory_type(dtype).as_pointer())
    value = builder.load(ptr)
    return builder.icmp_unsigned("!=", value, I8(0)) if dtype is DType.BOOL else value


def load_integer(builder: ll.IRBuilder, dtype: DType, address: ll.Value) -> ll.Value:
    """The integer of `dtype` at `address`, as i64 (sign- or zero-extended as its dtype says)."""
    raw = load_element(builder, dtype, address)
    if dtype.itemsize == 8:
        return raw
    return builder.sext(raw, I64) if dtype.is_signed else builder.zext(raw, I64)


def store_element(builder: ll.IRBuilder, dtype: DType, value: ll.Value, address: ll.Value) -> None:
    ptr = builder.bitcast(address, memory_type(dtype).as_pointer())
    builder.store(builder.zext(value, I8) if dtype is DType.BOOL else value, ptr)


def mark_not_captured(argument: ll.Argument) -> None:
    """Tell LLVM a pointer argument does not escape (`nocapture`: the spelling of the LLVM in
    the llvmlite versions llvm_c.py binds; LLVM 21 spells it `captures(none)`)."""
    argument.add_attribute("nocapture")


def declare(
    module: ll.Module, name: str, ret: ll.Type, args: list[ll.Type], var_arg: bool = False
) -> ll.Function:
    """The module's declaration of the external function `name` (libc, pthreads), made once."""
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    return ll.Function(module, ll.FunctionType(ret, args, var_arg=var_arg), name)
