"""Native code for tx.cumsum (ir/ops/cumsum.py): one strided loop nest in C order.

The result is a fresh C-contiguous buffer (a result slot when the plan allows). The nest
(nest.IterationSpace.walk) walks every axis in order, so an operand of any layout
(transposed, sliced, reversed) is read as it lies and the result is written in memory
order; along the summed axis each element adds the previous result element, written just
before in that order:
`out[..., k, ...] = x[..., k, ...] + out[..., k - 1, ...]`. The running sum is kept in the
result dtype and added one element after the other, as numpy's cumsum does.
"""

from __future__ import annotations

from ..ir import DType
from ..ir.ops.cumsum import CumSum
from . import llvm_ir as ll
from .context import LoweringContext, lowering
from .nest import ArrayRef, IterationSpace
from .types import I64, load_element, register_type, store_element


@lowering(CumSum)
def _cumsum(ctx: LoweringContext, op: CumSum) -> None:
    ctx.result_buffers(op, list(ctx.arrays[op.operands[0]].shape))
    ctx.defer(_emit, ctx, op)


def _emit(ctx: LoweringContext, op: CumSum) -> None:
    source, output = ctx.arrays[op.operands[0]], ctx.arrays[op.results[0]]
    emit_cumsum(ctx.builder, source, output, op.axis)


def emit_cumsum(builder: ll.IRBuilder, source: ArrayRef, output: ArrayRef, axis: int) -> None:
    """output = cumsum(source) along `axis`; output has source's shape, in its own strides."""
    b = builder
    space = IterationSpace(source.shape, [list(source.strides), list(output.strides)])

    def element(pointers: list[ll.Value], counters: list[ll.Value]) -> None:
        at, into = pointers
        dtype = output.dtype
        value = _widen(b, load_element(b, source.dtype, at), source.dtype, dtype)
        # the previous element along the axis; at index 0 a read of this one, then ignored
        first = b.icmp_signed("==", counters[axis], I64(0))
        back = b.select(first, I64(0), b.neg(output.strides[axis]))
        previous = load_element(b, dtype, b.gep(into, [back]))
        zero = ll.Constant(register_type(dtype), 0.0 if dtype.is_float else 0)
        previous = b.select(first, zero, previous)
        total = b.fadd(previous, value) if dtype.is_float else b.add(previous, value)
        store_element(b, dtype, total, into)

    space.walk(b, "cumsum.axis", [source.pointer, output.pointer], element)


def _widen(b: ll.IRBuilder, value: ll.Value, source: DType, target: DType) -> ll.Value:
    """An element of the operand in the result dtype (bool and integers to int64)."""
    if source is target:
        return value
    if source.is_signed and not source.is_bool:
        return b.sext(value, register_type(target))
    return b.zext(value, register_type(target))
