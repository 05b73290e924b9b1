"""tx.ifelse: both branches lowered as functions of their own, one of them called.

Each branch is lowered like any function (`lower_function`) into an internal entry with the
usual ABI. The results are laid out before the call (as every buffer is), with the shape both
branches give them (ir/ifelse_shapes.py has checked before the call that they agree; the terms
are evaluated here, terms.py); when the deferred code runs, it reads the condition, calls the
branch it selects with the captured operands as arguments and the results as output slots,
and never runs the other. A branch that fails (a temporary not allocated, an index out of
range) ends the function with its status, its index checks numbered after the enclosing
function's checks before the ifelse (then's before else's: ir/ops/indexing.index_checks).
"""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir as ll

from ..ir import Function, Module
from ..ir.calling import calling_convention
from ..ir.ifelse_shapes import branch_state, result_shape
from ..ir.ops.ifelse import BRANCHES, IfElse
from ..ir.ops.indexing import index_checks
from .context import LoweringContext, contiguous_strides, lowering
from .loops import ArrayRef
from .terms import emit_term
from .types import I8_PTR, I32, I64, load_element


@dataclass
class _Branch:
    """A lowered branch: its entry, its slots' ranks, and its first index check's number."""

    symbol: ll.Function
    ranks: tuple[int, ...]
    first_check: int


@lowering(IfElse, fresh=True)
def _ifelse(ctx: LoweringContext, op: IfElse) -> None:
    from .lower import lower_function

    branches = []
    for label, region in zip(BRANCHES, op.regions, strict=True):
        # The entry is `tc_<name>`, so the name is made unique with that prefix.
        name = ctx.module.get_unique_name(f"tc_{ctx.function.name}.{label}").removeprefix("tc_")
        body = Function(name, region.block, op.location)
        entry = lower_function(calling_convention(Module([]), body), body, ctx.module)
        symbol = ctx.module.globals[entry.symbol]
        symbol.linkage = "internal"
        checks = index_checks(body)
        first_check = ctx.first_check[checks[0][0]] if checks else 0
        branches.append(_Branch(symbol, entry.slot_ranks, first_check))
    for result, extent in zip(op.results, _extents(ctx, op), strict=True):
        pointer = ctx.destination.get(result)
        if pointer is None:
            pointer = ctx.allocate(result.type.dtype, extent)
        strides = contiguous_strides(ctx.builder, extent, result.type.dtype.itemsize)
        ctx.arrays[result] = ArrayRef(result.type.dtype, pointer, extent, strides, result.type.shape)
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


def _emit_call(ctx: LoweringContext, op: IfElse, branches: list[_Branch]) -> None:
    b = ctx.builder
    ranks = branches[0].ranks
    data = b.alloca(I8_PTR, size=len(ranks), name="branch.data")
    dims = b.alloca(I64, size=2 * sum(ranks) + 2, name="branch.dims")
    arrays = [ctx.arrays[v] for v in (*op.operands[1:], *op.results)]
    for slot, array in enumerate(arrays):
        b.store(b.bitcast(array.pointer, I8_PTR), b.gep(data, [I64(slot)]))
        offset = 2 * sum(ranks[:slot])
        for axis, value in enumerate([*array.shape, *array.strides]):
            b.store(value, b.gep(dims, [I64(offset + axis)]))
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
        _check_status(ctx, branch, b.call(branch.symbol, [data, dims]), dims)
        b.branch(done)
    b.position_at_end(done)


def _check_status(ctx: LoweringContext, branch: _Branch, status: ll.Value, dims: ll.Value) -> None:
    """Leave the function when the branch failed: out of memory as the function's own failure, a
    bad index renumbered among the function's checks, with the branch's diagnostics."""
    b = ctx.builder
    failed = b.append_basic_block("ifelse.failed")
    ok = b.append_basic_block("ifelse.ok")
    b.cbranch(b.icmp_signed("!=", status, I32(0)), failed, ok)
    b.position_at_end(failed)
    index_error = b.append_basic_block("ifelse.index_error")
    b.cbranch(b.icmp_signed("==", status, I32(1)), ctx.fail_block, index_error)
    b.position_at_end(index_error)
    where = 2 * sum(branch.ranks)
    failure = ctx.index_failure
    for word in range(2):
        value = b.load(b.gep(dims, [I64(where + word)]))
        b.store(value, b.gep(failure.dims, [I64(failure.offset + word)]))
    failure.forward(b, b.add(status, I32(branch.first_check)))
    b.position_at_end(ok)
