"""Communication inside a block of GPU threads: warp shuffles, barriers and shared memory.

A warp is WARP lanes moving registers with `shfl.sync` (as i32 words); a block
of up to 1024 threads holds at most MAX_WARPS warps, hence the shared arrays'
MAX_WARPS slots (one per warp). Used by the reduction kernels (reduce_kernels.py).
"""

from __future__ import annotations

from ..codegen_llvm import llvm_ir as ll
from ..codegen_llvm.types import F32, F64, I32, I64, memory_type
from ..ir import DType

WARP = 32
MAX_WARPS = 32  # shared slots: one per warp of a block of up to 1024 threads
FULL_MASK = 0xFFFFFFFF


def split_ints(b: ll.IRBuilder, value: ll.Value) -> list[ll.Value]:
    """A register value as i32 words (what shfl moves)."""
    ty = value.type
    if isinstance(ty, ll.DoubleType):
        value = b.bitcast(value, I64)
        ty = I64
    if isinstance(ty, ll.FloatType):
        return [b.bitcast(value, I32)]
    assert isinstance(ty, ll.IntType)
    if ty.width == 64:
        return [b.trunc(value, I32), b.trunc(b.lshr(value, I64(32)), I32)]
    if ty.width < 32:
        return [b.zext(value, I32)]
    return [value]


def join_ints(b: ll.IRBuilder, words: list[ll.Value], ty: ll.Type) -> ll.Value:
    if isinstance(ty, ll.FloatType):
        return b.bitcast(words[0], F32)
    if isinstance(ty, (ll.DoubleType, ll.IntType)) and len(words) == 2:
        joined = b.or_(b.zext(words[0], I64), b.shl(b.zext(words[1], I64), I64(32)))
        return b.bitcast(joined, F64) if isinstance(ty, ll.DoubleType) else joined
    assert isinstance(ty, ll.IntType)
    return b.trunc(words[0], ty) if ty.width < 32 else words[0]


def shuffle_xor(b: ll.IRBuilder, value: ll.Value, lane_mask: int) -> ll.Value:
    """The `value` of lane (this lane ^ lane_mask): llvm.nvvm.shfl.sync.bfly.i32."""
    module = b.module
    name = "llvm.nvvm.shfl.sync.bfly.i32"
    fn = module.globals.get(name) or ll.Function(module, ll.FunctionType(I32, [I32] * 4), name)
    words = [b.call(fn, [I32(FULL_MASK), w, I32(lane_mask), I32(WARP - 1)]) for w in split_ints(b, value)]
    return join_ints(b, words, value.type)


def barrier(b: ll.IRBuilder) -> None:
    module = b.module
    name = "llvm.nvvm.barrier0"
    fn = module.globals.get(name) or ll.Function(module, ll.FunctionType(ll.VoidType(), []), name)
    b.call(fn, [])


def shared_array(module: ll.Module, name: str, ty: ll.Type) -> ll.GlobalVariable:
    array = ll.ArrayType(ty, MAX_WARPS)
    glob = ll.GlobalVariable(module, array, name, addrspace=3)
    glob.linkage = "internal"
    glob.initializer = ll.Constant(array, ll.Undefined)
    glob.align = 8
    return glob


def store_shared(b: ll.IRBuilder, dtype: DType, value: ll.Value, slot: ll.Value) -> None:
    b.store(b.zext(value, memory_type(dtype)) if dtype.is_bool else value, slot)


def load_shared(b: ll.IRBuilder, dtype: DType, slot: ll.Value) -> ll.Value:
    value = b.load(slot)
    return b.icmp_unsigned("!=", value, ll.Constant(value.type, 0)) if dtype.is_bool else value
