"""Vectorisable math called out of line: one function per (math function, dtype) that LLVM's loop
vectoriser widens through the `vector-function-abi-variant` attribute, instead of forty inline
instructions per use (see ScalarEmitter's `outline_math`)."""

from __future__ import annotations

from collections.abc import Callable

from ..ir import DType
from . import llvm_ir as ll
from .control import counted_loop
from .types import I8_PTR, I64, register_type
from .vecmath import VECTOR_MATH

# The vectorisable math with one result (sin and cos also report inexact arguments).
OUTLINABLE_MATH = frozenset({"exp", "expm1", "log", "log1p", "tanh", "sigmoid"})
VECTOR_BITS = (128, 256, 512)  # SSE, AVX2, AVX-512: the widths the loop vectoriser may pick


def vector_math_function(module: ll.Module, name: str, dtype: DType) -> ll.Function:
    """`name`'s vectorisable math for one element, as a function the loop vectoriser widens.

    The function carries LLVM's `vector-function-abi-variant` attribute naming
    a vector version per width in VECTOR_BITS, so a vectorised loop calls the
    vector version once per vector. Every version runs the same instructions
    as the inline math (no fast-math, no `contract` flag): results are
    bit-identical. Both are `noinline`, or LLVM would paste the long body back.
    """
    suffix = "f64" if dtype is DType.F64 else "f32"
    symbol = f"tc.vecmath.{name}.{suffix}"
    existing = module.globals.get(symbol)
    if isinstance(existing, ll.Function):
        return existing
    emit = VECTOR_MATH[name]
    ty = register_type(dtype)
    scalar = ll.Function(module, ll.FunctionType(ty, [ty]), symbol)
    scalar.linkage = "internal"
    b = ll.IRBuilder(scalar.append_basic_block("entry"))
    b.ret(emit(b, dtype, scalar.args[0]))
    mappings = []
    for bits in VECTOR_BITS:
        lanes = bits // dtype.bits
        vector = _lane_loop_function(module, f"{symbol}.v{lanes}", dtype, lanes, emit)
        _keep_until_vectorised(module, vector)
        mappings.append(f"_ZGV_LLVM_N{lanes}v_{symbol}({vector.name})")
    scalar.attributes = _VectorVariants(",".join(mappings))
    scalar.attributes.add("noinline")
    return scalar


def _lane_loop_function(
    module: ll.Module, symbol: str, dtype: DType, lanes: int, emit: Callable[..., ll.Value]
) -> ll.Function:
    """<lanes x T> symbol(<lanes x T>): the math over the lanes as a counted loop, which
    LLVM's loop vectoriser turns into straight vector code (one copy of the body)."""
    ty = register_type(dtype)
    vty = ll.VectorType(ty, lanes)
    fn = ll.Function(module, ll.FunctionType(vty, [vty]), symbol)
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    lanes_in, lanes_out = b.alloca(ll.ArrayType(ty, lanes)), b.alloca(ll.ArrayType(ty, lanes))
    b.store(fn.args[0], b.bitcast(lanes_in, vty.as_pointer()))
    with counted_loop(b, I64(lanes), "lane") as lane:
        x = b.load(b.gep(lanes_in, [I64(0), lane]))
        b.store(emit(b, dtype, x), b.gep(lanes_out, [I64(0), lane]))
    b.ret(b.load(b.bitcast(lanes_out, vty.as_pointer())))
    return fn


def _keep_until_vectorised(module: ll.Module, fn: ll.Function) -> None:
    """List `fn` in `llvm.compiler.used`: nothing calls a vector version before the loop
    vectoriser does, and dead-code elimination runs earlier in the pipeline."""
    used = module.globals.get("llvm.compiler.used")
    items = [*used.initializer.constant, fn.bitcast(I8_PTR)] if used is not None else [fn.bitcast(I8_PTR)]
    array = ll.ArrayType(I8_PTR, len(items))
    if used is None:
        used = ll.GlobalVariable(module, array, "llvm.compiler.used")
        used.linkage = "appending"
        used.section = "llvm.metadata"
    else:  # (a module's global cannot be removed: this one is widened in place)
        used.value_type = array
        used.type = array.as_pointer()
    used.initializer = ll.Constant(array, items)


class _VectorVariants(ll.values.FunctionAttributes):
    """Function attributes plus LLVM's string attribute naming vector versions
    (the attribute sets accept only keyword attributes)."""

    def __init__(self, mappings: str) -> None:
        super().__init__()
        self.mappings = mappings

    def _to_list(self, ret_type: ll.Type) -> list[str]:
        return [*super()._to_list(ret_type), f'"vector-function-abi-variant"="{self.mappings}"']
