"""tx.scan: one native loop that calls the step, lowered as a function of its own.

The step body is lowered like any function (`lower_function`: its own buffer
plan, fused kernels, products) into an internal entry with the usual ABI, which
LLVM may inline into the loop. The loop hands it, per step, pointers into the
operands and results, never copying: a sequence's row t, each state tap's row
(the initial buffer's rows first, then the rows the loop wrote), and row t of
each stacked result as the step's output slot, so the step computes straight
into the stacked result and a state's next value is read where it was written.
The stacked results are laid out before the loop; their row shapes come from
the step's shape rules (the terms of ir/scan_shapes.py evaluated here, terms.py).
A step that fails (a temporary not allocated, an index out of range) ends the
function with the step's status, its index checks numbered after the
enclosing function's checks before the scan (ir/ops/indexing.index_checks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llvmlite import ir as ll

from ..ir import Function, Module
from ..ir.calling import calling_convention
from ..ir.ops.indexing import index_checks
from ..ir.ops.scan import Scan, ScanLayout
from ..ir.shape_state import ShapeState, rule_for
from .context import LoweringContext, contiguous_strides, lowering
from .control import counted_loop
from .loops import ArrayRef
from .terms import emit_term
from .types import I8_PTR, I32, I64


@dataclass
class _Step:
    """The lowered step and where each of its argument slots reads from."""

    symbol: ll.Function
    ranks: tuple[int, ...]
    sources: list[tuple[int, int]]  # body argument -> (operand index, axis offset)
    first_check: int  # the enclosing function's number of the step's first index check


@lowering(Scan, fresh=True)
def _scan(ctx: LoweringContext, op: Scan) -> None:
    from .lower import lower_function

    layout = op.layout
    n = ctx.shape_ops.scalar(op, op.operands[0])
    # The step's entry is `tc_<name>`, so the name is made unique with that prefix.
    name = ctx.module.get_unique_name(f"tc_{ctx.function.name}.step").removeprefix("tc_")
    body = Function(name, op.body.block, op.location)
    entry = lower_function(calling_convention(Module([]), body), body, ctx.module)
    symbol = ctx.module.globals[entry.symbol]
    symbol.linkage = "internal"
    sources = _sources(layout)
    checks = index_checks(body)
    first_check = ctx.first_check[checks[0][0]] if checks else 0
    step = _Step(symbol, entry.slot_ranks, sources, first_check)
    rows = _row_extents(ctx, op, body, sources)
    for result, row in zip(op.results, rows, strict=True):
        extent = [n, *row]
        pointer = ctx.destination.get(result)
        if pointer is None:
            pointer = ctx.allocate(result.type.dtype, extent)
        strides = contiguous_strides(ctx.builder, extent, result.type.dtype.itemsize)
        ctx.arrays[result] = ArrayRef(result.type.dtype, pointer, extent, strides, result.type.shape)
    ctx.defer(_emit_loop, ctx, op, step, n)


def _sources(layout: ScanLayout) -> list[tuple[int, int]]:
    sources = [(1 + k, 1) for k in range(layout.sequences)]
    for k in range(layout.states):
        sources += [(layout.first_init + k, 1)] * layout.tap_counts[k]
    return sources + [(layout.first_nonsequence + k, 0) for k in range(layout.nonsequences)]


def _row_extents(
    ctx: LoweringContext, op: Scan, body: Function, sources: list[tuple[int, int]]
) -> list[list[ll.Value]]:
    """Each result's row shape: the step's shape rules, evaluated on the operands' sizes."""
    state = ShapeState(body)
    for inner in body.body.ops:
        rule_for(inner)(inner, state)
    b = ctx.builder

    def arg_dim(arg: int, axis: int) -> ll.Value:
        operand, offset = sources[arg]
        return ctx.arrays[op.operands[operand]].shape[axis + offset]

    def arg_value(arg: int, index: int | None) -> ll.Value:
        # ir/scan_shapes.py has refused sizes read from anything but non-sequence scalars.
        operand, _ = sources[arg]
        return ctx.shape_ops.scalar(op, op.operands[operand])

    return [
        [emit_term(b, term, arg_dim, arg_value) for term in state.shapes[value]]
        for value in body.return_op.operands
    ]


def _emit_loop(ctx: LoweringContext, op: Scan, step: _Step, n: ll.Value) -> None:
    b = ctx.builder
    layout = op.layout
    data = b.alloca(I8_PTR, size=len(step.ranks), name="step.data")
    dims = b.alloca(I64, size=2 * sum(step.ranks) + 2, name="step.dims")
    offsets = [2 * sum(step.ranks[:slot]) for slot in range(len(step.ranks))]
    operands = [ctx.arrays[v] for v in op.operands]
    results = [ctx.arrays[v] for v in op.results]

    def put(slot: int, pointer: ll.Value, shape: list[ll.Value], strides: list[ll.Value]) -> None:
        b.store(b.bitcast(pointer, I8_PTR), b.gep(data, [I64(slot)]))
        for axis, value in enumerate([*shape, *strides]):
            b.store(value, b.gep(dims, [I64(offsets[slot] + axis)]))

    arguments = len(step.sources)
    for arg in range(layout.first_nonsequence_arg, arguments):
        source = operands[step.sources[arg][0]]
        put(arg, source.pointer, source.shape, source.strides)
    with counted_loop(b, n, "scan") as i:
        t = b.sub(b.sub(n, I64(1)), i) if op.reverse else i
        for k in range(layout.sequences):
            seq = operands[1 + k]
            put(k, _row(b, seq, t), seq.shape[1:], seq.strides[1:])
        arg = layout.first_state_arg
        for k in range(layout.states):
            init, result = operands[layout.first_init + k], results[k]
            for tap in layout.state_taps(k):
                _put_state(b, put, arg, init, result, t, tap, n, op.reverse, layout.lookback(k))
                arg += 1
        for position, result in enumerate(results):
            put(arguments + position, _row(b, result, t), result.shape[1:], result.strides[1:])
        status = b.call(step.symbol, [data, dims])
        _check_status(ctx, step, status, dims)


def _put_state(
    b: ll.IRBuilder,
    put: Callable[[int, ll.Value, list[ll.Value], list[ll.Value]], None],
    arg: int,
    init: ArrayRef,
    result: ArrayRef,
    t: ll.Value,
    tap: int,
    n: ll.Value,
    reverse: bool,
    lookback: int,
) -> None:
    """The value of a state `tap` steps back: a row the loop wrote, or an initial row."""
    if reverse:  # the previous step is t + 1; before it, the one initial row
        source = b.add(t, I64(1))
        written = b.icmp_signed("<", source, n)
        init_row = I64(0)
    else:
        source = b.add(t, I64(tap))
        written = b.icmp_signed(">=", source, I64(0))
        init_row = b.add(source, I64(lookback))
    row_of_result = _row(b, result, b.select(written, source, I64(0)))
    row_of_init = _row(b, init, b.select(written, I64(0), init_row))
    pointer = b.select(written, row_of_result, row_of_init)
    strides = [b.select(written, r, s) for r, s in zip(result.strides[1:], init.strides[1:], strict=True)]
    put(arg, pointer, result.shape[1:], strides)


def _row(b: ll.IRBuilder, array: ArrayRef, t: ll.Value) -> ll.Value:
    base = b.bitcast(array.pointer, I8_PTR)
    return b.gep(base, [b.mul(t, array.strides[0])])


def _check_status(ctx: LoweringContext, step: _Step, status: ll.Value, dims: ll.Value) -> None:
    """Leave the function when the step failed: out of memory as the function's own failure, a
    bad index renumbered among the function's checks, with the step's diagnostics."""
    b = ctx.builder
    failed = b.append_basic_block("scan.failed")
    ok = b.append_basic_block("scan.ok")
    b.cbranch(b.icmp_signed("!=", status, I32(0)), failed, ok)
    b.position_at_end(failed)
    index_error = b.append_basic_block("scan.index_error")
    b.cbranch(b.icmp_signed("==", status, I32(1)), ctx.fail_block, index_error)
    b.position_at_end(index_error)
    where = 2 * sum(step.ranks)
    failure = ctx.index_failure
    for word in range(2):
        value = b.load(b.gep(dims, [I64(where + word)]))
        b.store(value, b.gep(failure.dims, [I64(failure.offset + word)]))
    failure.forward(b, b.add(status, I32(step.first_check)))
    b.position_at_end(ok)
