"""Native code for tx.head (ir/ops/head.py): a result whose length is known once the loop ran.

The caller allocated the upper bound (the source's rows). Once the loops have run, the first
`count` rows are copied into each result slot the value fills, and `count` is written over
the slot's first dimension in `dims`, which the caller reads back (runtime/function.py).
"""

from __future__ import annotations

from ..ir.ops.head import Head
from .context import LoweringContext, lowering
from .nest import ArrayRef
from .types import load_element


@lowering(Head)
def _head(ctx: LoweringContext, op: Head) -> None:
    ctx.defer(_emit_head, ctx, op)  # after the scan's loop, which counts the rows


def _emit_head(ctx: LoweringContext, op: Head) -> None:
    assert ctx.plan is not None
    b = ctx.builder
    source, count = (ctx.arrays[v] for v in op.operands)
    rows = load_element(b, count.dtype, count.pointer)
    head = ArrayRef(
        source.dtype, source.pointer, [rows, *source.shape[1:]], source.strides, op.result.type.shape
    )
    ctx.arrays[op.result] = head
    for value, (pointer, shape, strides) in ctx.plan.targets:
        if value is op.result:  # the verifier allows no other use
            ctx.copy(head, (pointer, [rows, *shape[1:]], strides))
            ctx.report_rows((pointer, shape, strides), rows)
            ctx.destination[value] = pointer
