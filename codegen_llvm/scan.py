"""tx.scan: one native loop that calls the step, lowered as a function of its own (bodies.py).

The loop hands the step, per step, pointers into the
operands and results, never copying: a sequence's row t, each state tap's row
(the initial buffer's rows first, then the rows the loop wrote), and row t of
each stacked result as the step's output slot, so the step computes straight
into the stacked result and a state's next value is read where it was written.
The stacked results are laid out before the loop; their row shapes come from
the step's shape rules (the terms of ir/scan_shapes.py evaluated here, terms.py).
"""

from __future__ import annotations

from llvmlite import ir as ll

from ..ir import Function
from ..ir.ops.scan import Scan, ScanLayout
from ..ir.shape_state import ShapeState, rule_for
from .bodies import CallFrame, LoweredBody, call_body, fresh_results, lower_body
from .context import LoweringContext, lowering
from .control import exitable_loop
from .nest import ArrayRef
from .terms import emit_term
from .types import I8, I8_PTR, I64


@lowering(Scan)
def _scan(ctx: LoweringContext, op: Scan) -> None:
    n = ctx.shape_ops.scalar(op, op.operands[0])
    step = lower_body(ctx, op.body.block, "step", op)
    sources = _sources(op.layout)
    rows = _row_extents(ctx, op, step.function, sources)
    last_only = set(op.last_only)
    extents = [row if k in last_only else [n, *row] for k, row in enumerate(rows)]
    if op.until:  # the number of steps run, where the step returns its stop condition
        extents[-1] = []
    fresh_results(ctx, op, extents)
    # A state kept for its last value alternates between its result and one spare row.
    spares = {k: _spare_row(ctx, ctx.arrays[op.results[k]]) for k in op.last_only}
    ctx.defer(_emit_loop, ctx, op, step, sources, n, spares)


def _spare_row(ctx: LoweringContext, result: ArrayRef) -> ArrayRef:
    pointer = ctx.allocate(result.dtype, result.shape)
    return ArrayRef(result.dtype, pointer, result.shape, result.strides, result.static_shape)


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
        # ir/scan_shapes.py has refused sizes read from anything but non-sequence integers.
        operand, _ = sources[arg]
        value = op.operands[operand]
        if index is None:
            return ctx.shape_ops.scalar(op, value)
        return ctx.shape_ops.vector_entry(op, value, index)

    return [
        [emit_term(b, term, arg_dim, arg_value) for term in state.shapes[value]]
        for value in body.return_op.operands
    ]


def _emit_loop(
    ctx: LoweringContext,
    op: Scan,
    step: LoweredBody,
    sources: list[tuple[int, int]],
    n: ll.Value,
    spares: dict[int, ArrayRef],
) -> None:
    b = ctx.builder
    layout = op.layout
    frame = CallFrame(b, step.ranks, "step")
    operands = [ctx.arrays[v] for v in op.operands]
    results = [ctx.arrays[v] for v in op.results]
    arguments = len(sources)
    for arg in range(layout.first_nonsequence_arg, arguments):
        frame.put_array(arg, operands[sources[arg][0]])
    if op.until:  # the step writes its stop condition here; the loop counts the steps run
        stop = b.alloca(I8, name="scan.stop")
        count = b.bitcast(results.pop().pointer, I64.as_pointer())
        b.store(n, count)
        frame.put(arguments + len(results), stop, [], [])
    with exitable_loop(b, n, "scan") as (i, exit_if):
        t = b.sub(b.sub(n, I64(1)), i) if op.reverse else i
        for k in range(layout.sequences):
            seq = operands[1 + k]
            frame.put(k, _row(b, seq, t), seq.shape[1:], seq.strides[1:])
        arg = layout.first_state_arg
        for k in range(layout.states):
            init, result = operands[layout.first_init + k], results[k]
            for tap in layout.state_taps(k):
                if k in spares:
                    _put_previous(b, frame, arg, init, (result, spares[k]), i, n)
                else:
                    _put_state(b, frame, arg, init, result, t, tap, n, op.reverse, layout.lookback(k))
                arg += 1
        for position, result in enumerate(results):
            if position in spares:  # the last step writes the result itself
                last = b.icmp_signed("==", b.srem(b.sub(b.sub(n, I64(1)), i), I64(2)), I64(0))
                target = b.select(last, result.pointer, spares[position].pointer)
                frame.put(arguments + position, target, result.shape, result.strides)
            else:
                frame.put(arguments + position, _row(b, result, t), result.shape[1:], result.strides[1:])
        call_body(ctx, step, frame)
        if op.until:
            stopped = b.icmp_unsigned("!=", b.load(stop), I8(0))
            with b.if_then(stopped):
                b.store(b.add(i, I64(1)), count)
            exit_if(stopped)
    for k in spares:  # no steps: the result is the initial row
        with b.if_then(b.icmp_signed("==", n, I64(0))):
            init = operands[layout.first_init + k]
            row = ArrayRef(init.dtype, init.pointer, init.shape[1:], init.strides[1:], init.static_shape[1:])
            ctx.copy(row, (results[k].pointer, results[k].shape, results[k].strides))


def _put_previous(
    b: ll.IRBuilder,
    frame: CallFrame,
    arg: int,
    init: ArrayRef,
    buffers: tuple[ArrayRef, ArrayRef],
    i: ll.Value,
    n: ll.Value,
) -> None:
    """The previous value of a state kept for its last value: the initial row at the first
    step, then whichever of its two rows the previous step wrote."""
    result, spare = buffers
    first = b.icmp_signed("==", i, I64(0))
    previous_was_result = b.icmp_signed("==", b.srem(b.sub(n, i), I64(2)), I64(0))
    written = b.select(previous_was_result, result.pointer, spare.pointer)
    pointer = b.select(first, b.bitcast(init.pointer, I8_PTR), b.bitcast(written, I8_PTR))
    strides = [b.select(first, s, r) for r, s in zip(result.strides, init.strides[1:], strict=True)]
    frame.put(arg, pointer, result.shape, strides)


def _put_state(
    b: ll.IRBuilder,
    frame: CallFrame,
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
    frame.put(arg, pointer, result.shape[1:], strides)


def _row(b: ll.IRBuilder, array: ArrayRef, t: ll.Value) -> ll.Value:
    base = b.bitcast(array.pointer, I8_PTR)
    return b.gep(base, [b.mul(t, array.strides[0])])
