"""tx.ifelse: both branches lowered as functions of their own (bodies.py), one of them called.

The results are laid out before the call (as every buffer is), with the shape both branches
give them (ir/ifelse_shapes.py has checked before the call that they agree; the terms are
evaluated here, terms.py). When the deferred code runs, it reads the condition, calls the
branch it selects with the captured operands as arguments and the results as output slots,
and never runs the other (a failing branch ends the function as bodies.py says; then's index
checks are numbered before else's).
"""

from __future__ import annotations

from ..ir.ifelse_shapes import branch_state, result_shape
from ..ir.ops.ifelse import BRANCHES, IfElse
from . import llvm_ir as ll
from .bodies import CallFrame, LoweredBody, call_body, fresh_results, lower_body
from .context import LoweringContext, lowering
from .terms import emit_term
from .types import load_element


@lowering(IfElse)
def _ifelse(ctx: LoweringContext, op: IfElse) -> None:
    branches = [
        lower_body(ctx, region.block, label, op) for label, region in zip(BRANCHES, op.regions, strict=True)
    ]
    fresh_results(ctx, op, _extents(ctx, op))
    ctx.defer(_emit_call, ctx, op, branches)


def _extents(ctx: LoweringContext, op: IfElse) -> list[list[ll.Value]]:
    """Each result's shape, from the branches' shape rules on the operands' sizes."""
    b = ctx.builder

    def arg_dim(arg: int, axis: int) -> ll.Value:
        return ctx.arrays[op.operands[1 + arg]].shape[axis]

    def arg_value(arg: int, index: int | None) -> ll.Value:
        # ir/ifelse_shapes.py has refused sizes read from anything but tracked integer scalars.
        return ctx.shape_ops.scalar(op, op.operands[1 + arg])

    (then_body, then_state), (else_body, else_state) = branch_state(op, 0), branch_state(op, 1)
    extents = []
    for result, t, e in zip(
        op.results, then_body.return_op.operands, else_body.return_op.operands, strict=True
    ):
        terms = result_shape(result.type.shape, then_state.shapes[t], else_state.shapes[e])
        extents.append([emit_term(b, term, arg_dim, arg_value) for term in terms])
    return extents


def _emit_call(ctx: LoweringContext, op: IfElse, branches: list[LoweredBody]) -> None:
    b = ctx.builder
    frame = CallFrame(b, branches[0].ranks, "branch")
    for slot, value in enumerate((*op.operands[1:], *op.results)):
        frame.put_array(slot, ctx.arrays[value])
    condition = ctx.arrays[op.operands[0]]
    raw = load_element(b, condition.dtype, condition.pointer)
    if condition.dtype.is_float:  # NaN counts as true, as numpy's bool(nan)
        taken = b.fcmp_unordered("!=", raw, ll.Constant(raw.type, 0.0))
    elif condition.dtype.is_bool:
        taken = raw
    else:
        taken = b.icmp_unsigned("!=", raw, ll.Constant(raw.type, 0))
    blocks = [b.append_basic_block(f"ifelse.{label}") for label in BRANCHES]
    done = b.append_basic_block("ifelse.done")
    b.cbranch(taken, *blocks)
    for block, branch in zip(blocks, branches, strict=True):
        b.position_at_end(block)
        call_body(ctx, branch, frame)
        b.branch(done)
    b.position_at_end(done)
