"""The CPU lowering of `kernel.reduce`: a scalar body reduced where it is computed.

The body's operands are walked once over the broadcast iteration space; at each
element the body runs once and each yielded value joins its own reduction
(reduce.py's `emit_reductions`), so nothing the body computes is written to
memory. Which reductions share a walk was decided by `fuse`; this entry follows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ir.ops.kernel import KernelReduce
from . import llvm_ir as ll
from .context import LoweringContext, lowering
from .jobs import KernelBody
from .kernel_body import kernel_body
from .lowerings import kernel_extent, reduced_extent, reduction_scratch
from .nest import IterationSpace
from .scalar import ScalarEmitter

if TYPE_CHECKING:
    from .reduce_walk import Compute


@lowering(KernelReduce)
def _kernel_reduce(ctx: LoweringContext, op: KernelReduce) -> None:
    space_type = op.source_type
    space = kernel_extent(ctx, op, space_type.shape)
    extent = reduced_extent(space, op.axes, op.keepdims)
    ctx.result_buffers(op, extent)
    scratch = [
        reduction_scratch(ctx, kind, y.dtype, r.type.dtype, space_type.rank, op.axes, extent)
        for kind, y, r in zip(op.kinds, op.yield_types, op.results, strict=True)
    ]
    ctx.defer(_emit_kernel_reduce, ctx, op, space, extent, scratch)


def _emit_kernel_reduce(
    ctx: LoweringContext,
    op: KernelReduce,
    space: list[ll.Value],
    extent: list[ll.Value],
    scratch: list[ll.Value | None],
) -> None:
    from .reduce import emit_reductions  # (the reductions' emitters: when a kernel reduces)
    from .reduce_walk import Member

    emitter = ScalarEmitter(ctx.builder, ctx.math)
    operands = [ctx.arrays[v] for v in op.operands]
    reduced = IterationSpace.over(space, op.source_type.shape, operands)
    members = [
        Member(kind, y.dtype, r.type.dtype, ctx.arrays[r].pointer, s)
        for kind, y, r, s in zip(op.kinds, op.yield_types, op.results, scratch, strict=True)
    ]
    compute = _elements_of(kernel_body(op, ctx.math))
    emit_reductions(emitter, members, op.axes, compute, operands, reduced, extent)


def _elements_of(body: KernelBody) -> Compute:
    """The yielded values, computed where the reductions need them: with the vectorisable
    math unless the body may ask for exact math (a reduction has no second pass to redo)."""
    if body.has_fallback:
        return lambda builder, values: body.exact(builder, values)
    return lambda builder, values: body.fast(builder, values)[0]
