"""tx.scan: one native loop that calls the step, lowered as a function of its own (bodies.py).

The loop hands the step, per step, pointers into the
operands and results, never copying: a sequence's row t, each state tap's row
(the initial buffer's rows first, then the rows the loop wrote), and row t of
each stacked result as the step's output slot, so the step computes straight
into the stacked result and a state's next value is read where it was written.
The stacked results are laid out before the loop; their row shapes come from
the step's shape rules (the terms of ir/scan_shapes.py evaluated here, terms.py).

Where the step keeps its rows apart (ir/scan_rows.py: an RNN over a minibatch), the loop is
written for a window of rows, every sequence row, state and result slot narrowed to it, and
the windows run as jobs on the pool's threads: each thread runs all the steps for its rows,
with nothing to wait for between steps. (The recurrence of bench/scan.py's batch-32 RNN:
17-20 ms on one core, 10.5-12 ms on two.)
"""

from __future__ import annotations

from ..ir import Function
from ..ir.ops.scan import Scan, ScanLayout
from ..ir.ops.views import DimShuffle
from ..ir.scan_rows import independent_rows
from ..ir.shape_state import ShapeState, rule_for
from . import llvm_ir as ll
from .bodies import CallFrame, LoweredBody, call_body, forward_failure, fresh_results, lower_body
from .context import LoweringContext, contiguous_strides, lowering
from .control import exitable_loop
from .nest import ArrayRef
from .outline import outlined_job
from .parallel import thread_count
from .register_tile import tile_rows
from .terms import emit_term
from .types import I1, I8, I8_PTR, I32, I64

# A scan with independent rows spreads them over the cores from this many result elements
# (over all its steps): below, a second thread's start (microseconds) does not pay.
ROWS_GRAIN = 1 << 16
# ... and with at least this many elements of each step's results per range: two threads
# writing parts of one cache line at every step (a trivial step over a vector of 16 floats)
# took 12-42 ns a step instead of 7-8.
RANGE_ELEMENTS = 1 << 10


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
    laid_out = {k: _contiguous(ctx, ctx.arrays[v]) for k, v in enumerate(op.operands) if _transposed(op, k)}
    ctx.defer(_emit_loop, ctx, op, step, sources, n, spares, laid_out)


def _transposed(op: Scan, operand: int) -> bool:
    """Whether the operand is a non-sequence that is a transposed matrix (a weight the step
    multiplies by on the right, as U^T in an RNN's gradient): laid out contiguously once
    before the loop, rather than copied by every step's product (linalg.py)."""
    owner = op.operands[operand].owner
    return operand >= op.layout.first_nonsequence and type(owner) is DimShuffle and owner.pattern == (1, 0)


def _contiguous(ctx: LoweringContext, array: ArrayRef) -> ArrayRef:
    pointer = ctx.allocate(array.dtype, array.shape)
    strides = contiguous_strides(ctx.builder, array.shape, array.dtype.itemsize)
    return ArrayRef(array.dtype, pointer, array.shape, strides, array.static_shape, True)


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
    laid_out: dict[int, ArrayRef],
) -> None:
    b = ctx.builder
    operands = [ctx.arrays[v] for v in op.operands]
    for k, copy in laid_out.items():
        ctx.copy(operands[k], (copy.pointer, copy.shape, copy.strides))
        operands[k] = copy
    results = [ctx.arrays[v] for v in op.results]
    # with until, the last result is the count of steps run, not a slot of the step
    loop = _Loop(op, step, sources, n, spares, operands, results[:-1] if op.until else results)
    if op.until:
        _emit_until_loop(ctx, loop, results[-1])
    elif independent_rows(op):
        # Called from the serial loop and from the ranges' job: inlined into both, as it is
        # into a loop that is its only caller.
        step.symbol.attributes.add("alwaysinline")
        rows, ranges, per_range = _row_ranges(b, loop)
        with b.if_else(b.icmp_signed(">", ranges, I64(1))) as (threaded, serial):
            with threaded:
                _emit_row_ranges(ctx, loop, rows, ranges, per_range)
            with serial:
                _emit_serial_loop(ctx, loop)
    else:
        _emit_serial_loop(ctx, loop)
    for k in spares:  # no steps: the result is the initial row
        with b.if_then(b.icmp_signed("==", n, I64(0))):
            init = loop.operands[op.layout.first_init + k]
            row = ArrayRef(init.dtype, init.pointer, init.shape[1:], init.strides[1:], init.static_shape[1:])
            ctx.copy(row, (results[k].pointer, results[k].shape, results[k].strides))


def _emit_serial_loop(ctx: LoweringContext, loop: _Loop) -> None:
    b = ctx.builder
    frame = loop.frame(b)
    with exitable_loop(b, loop.n, "scan") as (i, _):
        loop.put_step(b, frame, i, None)
        call_body(ctx, loop.step, frame)


def _emit_until_loop(ctx: LoweringContext, loop: _Loop, count_result: ArrayRef) -> None:
    """The loop of a scan that may stop early: the step writes its stop condition into a
    slot after its results; the loop counts the steps run into the last result."""
    b = ctx.builder
    frame = loop.frame(b)
    stop = b.alloca(I8, name="scan.stop")
    count = b.bitcast(count_result.pointer, I64.as_pointer())
    b.store(loop.n, count)
    frame.put(len(loop.sources) + len(loop.results), stop, [], [])
    with exitable_loop(b, loop.n, "scan") as (i, exit_if):
        loop.put_step(b, frame, i, None)
        call_body(ctx, loop.step, frame)
        stopped = b.icmp_unsigned("!=", b.load(stop), I8(0))
        with b.if_then(stopped):
            b.store(b.add(i, I64(1)), count)
        exit_if(stopped)


def _emit_row_ranges(
    ctx: LoweringContext, loop: _Loop, rows: ll.Value, ranges: ll.Value, per_range: ll.Value
) -> None:
    """A scan whose rows are independent (ir/scan_rows.py), large enough for several
    ranges of rows: the loop over the steps, for a range of rows, is a job, run over the
    ranges on the pool's threads. A failing step ends its range's loop and records its
    status (the first failure wins); the function then fails with it as the serial loop
    would have."""
    b = ctx.builder
    with b.goto_entry_block():
        status = b.alloca(I32, name="scan.status")
        diagnostics = b.alloca(I64, size=2, name="scan.diagnostics")
    b.store(I32(0), status)

    def emit(begin: ll.Value, end: ll.Value) -> None:
        first = b.mul(begin, per_range)
        window = (first, b.sub(_min(b, b.mul(end, per_range), rows), first))
        frame = loop.frame(b)
        with exitable_loop(b, loop.n, "scan") as (i, exit_if):
            loop.put_step(b, frame, i, window)
            code = b.call(loop.step.symbol, [frame.data, frame.dims])
            failed = b.icmp_signed("!=", code, I32(0))
            with b.if_then(failed, likely=False):
                won = b.extract_value(b.cmpxchg(status, I32(0), code, "monotonic", "monotonic"), 1)
                with b.if_then(won):
                    for word in range(2):
                        value = b.load(b.gep(frame.dims, [I64(frame.diagnostics + word)]))
                        b.store(value, b.gep(diagnostics, [I64(word)]))
            exit_if(failed)

    outlined_job(b, ctx.unique_name("scan.rows"), (ranges, ranges), emit)
    forward_failure(ctx, loop.step, b.load(status), diagnostics)


def _row_ranges(b: ll.IRBuilder, loop: _Loop) -> tuple[ll.Value, ll.Value, ll.Value]:
    """(rows, ranges, rows per range): one range per thread, each at least a product tile's
    rows and RANGE_ELEMENTS of a step's results, where every batched slot has the same rows
    and the scan does enough work (ROWS_GRAIN elements of its results); otherwise one range,
    which the serial loop runs."""
    extents = loop.batched_extents()
    rows = extents[0]
    same = I1(1)
    for extent in extents[1:]:
        same = b.and_(same, b.icmp_signed("==", extent, rows))
    per_step = loop.row_elements(b)
    elements = b.mul(loop.n, per_step)
    ranges = _min(b, thread_count(b), b.sdiv(rows, I64(tile_rows())))
    ranges = _min(b, ranges, b.sdiv(per_step, I64(RANGE_ELEMENTS)))
    wide = b.and_(same, b.icmp_signed(">=", elements, I64(ROWS_GRAIN)))
    ranges = b.select(b.and_(wide, b.icmp_signed(">", ranges, I64(1))), ranges, I64(1))
    # rows per range: ceil(rows / ranges), rounded up to whole tiles; then no range is empty
    per_range = b.sdiv(b.add(rows, b.sub(ranges, I64(1))), ranges)
    per_range = b.mul(b.sdiv(b.add(per_range, I64(tile_rows() - 1)), I64(tile_rows())), I64(tile_rows()))
    per_range = _at_least_one(b, per_range)  # (no rows: one range, and no division by zero)
    ranges = _at_least_one(b, b.sdiv(b.add(rows, b.sub(per_range, I64(1))), per_range))
    return rows, ranges, per_range


Window = tuple[ll.Value, ll.Value]  # (first row, rows): the batched slots' rows a loop runs on


class _Loop:
    """What the scan's loop hands its step: the slots of one step, whole or for a window of
    rows."""

    def __init__(
        self,
        op: Scan,
        step: LoweredBody,
        sources: list[tuple[int, int]],
        n: ll.Value,
        spares: dict[int, ArrayRef],
        operands: list[ArrayRef],
        results: list[ArrayRef],
    ) -> None:
        self.op, self.step, self.sources, self.n, self.spares = op, step, sources, n, spares
        self.operands, self.results = operands, results

    def frame(self, b: ll.IRBuilder) -> CallFrame:
        """A frame with the non-sequences in place (read whole, whatever rows a loop runs on)."""
        frame = CallFrame(b, self.step.ranks, "step")
        for arg in range(self.op.layout.first_nonsequence_arg, len(self.sources)):
            frame.put_array(arg, self.operands[self.sources[arg][0]])
        return frame

    def put_step(self, b: ll.IRBuilder, frame: CallFrame, i: ll.Value, window: Window | None) -> None:
        """Step i's sequence rows, state taps and result rows."""
        layout, operands, n = self.op.layout, self.operands, self.n
        t = b.sub(b.sub(n, I64(1)), i) if self.op.reverse else i

        def put(slot: int, pointer: ll.Value, shape: list[ll.Value], strides: list[ll.Value]) -> None:
            if window is not None:
                first, rows = window
                pointer = b.gep(b.bitcast(pointer, I8_PTR), [b.mul(first, strides[0])])
                shape = [rows, *shape[1:]]
            frame.put(slot, pointer, shape, strides)

        for k in range(layout.sequences):
            seq = operands[1 + k]
            put(k, _row(b, seq, t), seq.shape[1:], seq.strides[1:])
        arg = layout.first_state_arg
        for k in range(layout.states):
            init, result = operands[layout.first_init + k], self.results[k]
            for tap in layout.state_taps(k):
                if k in self.spares:
                    put(arg, *_previous(b, init, (result, self.spares[k]), i, n))
                else:
                    put(arg, *_state(b, init, result, t, tap, n, self.op.reverse, layout.lookback(k)))
                arg += 1
        for position, result in enumerate(self.results):
            slot = len(self.sources) + position
            if position in self.spares:  # the last step writes the result itself
                last = b.icmp_signed("==", b.srem(b.sub(b.sub(n, I64(1)), i), I64(2)), I64(0))
                target = b.select(last, result.pointer, self.spares[position].pointer)
                put(slot, target, result.shape, result.strides)
            else:
                put(slot, _row(b, result, t), result.shape[1:], result.strides[1:])

    def batched_extents(self) -> list[ll.Value]:
        """Axis 0 of every batched slot: the sequences' rows, the initial states' and the
        results' rows."""
        layout = self.op.layout
        extents = [self.operands[1 + k].shape[1] for k in range(layout.sequences)]
        extents += [self.operands[layout.first_init + k].shape[1] for k in range(layout.states)]
        for position, result in enumerate(self.results):
            extents.append(result.shape[0 if position in self.spares else 1])
        return extents

    def row_elements(self, b: ll.IRBuilder) -> ll.Value:
        """How many elements one step writes."""
        total = I64(0)
        for position, result in enumerate(self.results):
            elements = I64(1)
            for extent in result.shape[0 if position in self.spares else 1 :]:
                elements = b.mul(elements, extent)
            total = b.add(total, elements)
        return total


def _previous(
    b: ll.IRBuilder, init: ArrayRef, buffers: tuple[ArrayRef, ArrayRef], i: ll.Value, n: ll.Value
) -> tuple[ll.Value, list[ll.Value], list[ll.Value]]:
    """The previous value of a state kept for its last value: the initial row at the first
    step, then whichever of its two rows the previous step wrote."""
    result, spare = buffers
    first = b.icmp_signed("==", i, I64(0))
    previous_was_result = b.icmp_signed("==", b.srem(b.sub(n, i), I64(2)), I64(0))
    written = b.select(previous_was_result, result.pointer, spare.pointer)
    pointer = b.select(first, b.bitcast(init.pointer, I8_PTR), b.bitcast(written, I8_PTR))
    strides = [b.select(first, s, r) for r, s in zip(result.strides, init.strides[1:], strict=True)]
    return pointer, result.shape, strides


def _state(
    b: ll.IRBuilder,
    init: ArrayRef,
    result: ArrayRef,
    t: ll.Value,
    tap: int,
    n: ll.Value,
    reverse: bool,
    lookback: int,
) -> tuple[ll.Value, list[ll.Value], list[ll.Value]]:
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
    return pointer, result.shape[1:], strides


def _row(b: ll.IRBuilder, array: ArrayRef, t: ll.Value) -> ll.Value:
    base = b.bitcast(array.pointer, I8_PTR)
    return b.gep(base, [b.mul(t, array.strides[0])])


def _min(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _at_least_one(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed("<", x, I64(1)), I64(1), x)
