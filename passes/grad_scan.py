"""The gradient of tx.scan: backpropagation through time, as a reverse scan.

For a forward scan of n steps, the gradient is a second scan that runs the
steps backwards (`reverse`) and, at step t,

- recomputes the forward step from its inputs at step t: the sequences' rows,
  and the values each state tap read, which are rows of the forward results
  (the initial rows first): `concatenate(init, result)[L + tap:]`, read as
  sequences, so the forward states are kept, never recomputed from scratch;
- takes the cotangent of the step's outputs: the result rows' own cotangents
  plus, for a state, what the later steps' taps sent back, carried in L
  accumulators per state (carry j holds the cotangent of the row written j + 1
  steps later, so carry L - 1 is complete when step t is reached);
- backpropagates through the step's ops (`backpropagate`, the grad pass's
  reverse mode over the copied step), giving the cotangent of each input row:
  a sequence row's becomes row t of that sequence's gradient, a tap's enters
  the carries, a non-sequence's is summed into an accumulator.

After the last (t = 0) step the carries are the initial rows' cotangents and
the accumulators the non-sequences'. A reverse scan's gradient is the same
construction running forwards.
"""

from __future__ import annotations

from typing import NamedTuple

from ..ir import Value
from ..ir.builder import Builder
from ..ir.clone import clone_block
from ..ir.core import Block, Region
from ..ir.errors import TcGradientError
from ..ir.ops.builtin import Return
from ..ir.ops.scan import Scan, ScanLayout, argument_types


class _Parts(NamedTuple):
    """The forward scan taken apart, and which of its inputs are differentiable."""

    op: Scan
    layout: ScanLayout
    seqs: list[Value]
    inits: list[Value]
    nonseqs: list[Value]
    floats: list[int]  # states with float values
    float_nonseqs: list[int]
    float_seqs: list[int]

    @classmethod
    def of(cls, op: Scan) -> _Parts:
        layout, operands = op.layout, op.operands
        seqs = operands[1 : layout.first_init]
        inits = operands[layout.first_init : layout.first_nonsequence]
        nonseqs = operands[layout.first_nonsequence :]
        return cls(
            op, layout, seqs, inits, nonseqs,
            [k for k in range(layout.states) if inits[k].type.dtype.is_float],
            [p for p, v in enumerate(nonseqs) if v.type.dtype.is_float],
            [k for k, v in enumerate(seqs) if v.type.dtype.is_float],
        )  # fmt: skip


class _Args(NamedTuple):
    """The backward step's block arguments, by kind."""

    seqs: list[Value]
    taps: list[Value]
    cotangents: dict[int, Value]  # by the forward result they are the cotangent of
    outputs: list[Value]  # each forward result's row of this step
    carries: list[Value]
    accumulators: list[Value]
    nonseqs: list[Value]


def scan_gradient(op: Scan, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
    if op.until:  # the backward loop would run a number of steps known only after the forward one
        raise TcGradientError(
            f"'{op.name}' at {op.location}: the gradient of a scan with until (an early exit) is not "
            "supported; run n_steps steps and keep the rows past the stop unchanged with T.switch"
        )
    parts = _Parts.of(op)
    layout = parts.layout
    last_only = set(op.last_only)
    # Every value each state took: a state kept for its last value only is recomputed, stacked.
    stacked = _stacked(builder, op) if last_only else op.results
    # Sequences of the backward scan: the forward sequences, the rows each tap read, and the
    # stacked results' cotangents; then one carry per state tap row (a last-only state's starts
    # from its result's cotangent) and one accumulator per non-sequence.
    tap_rows = []
    for k in range(layout.states):
        history = _history(builder, parts.inits[k], stacked[k], op.reverse)
        for tap in layout.state_taps(k):
            start = 1 if op.reverse else layout.lookback(k) + tap
            tap_rows.append(history if start == 0 else _rows_from(builder, history, start))
    cotangents = {
        r: g if g is not None else builder.fill(result, 0.0)
        for r, (result, g) in enumerate(zip(op.results, output_grads, strict=True))
        if r not in last_only
    }
    carries = [
        _carry_start(builder, parts.inits[k], output_grads[k] if k in last_only else None)
        for k in parts.floats
        for _ in range(layout.lookback(k))
    ]
    accumulators = [
        _zero_row(builder, builder.dimshuffle(parts.nonseqs[p], [-1, *range(parts.nonseqs[p].type.rank)]))
        for p in parts.float_nonseqs
    ]
    window = _window(builder, op)
    # The forward results too: the gradient reads each step's outputs instead of recomputing them.
    ahead = (*parts.seqs, *tap_rows, *cotangents.values(), *stacked)
    back_seqs = [_from_row(builder, v, window.start) for v in ahead]
    back_operands = [window.steps, *back_seqs, *carries, *accumulators, *parts.nonseqs]
    carried = len(carries) + len(accumulators)
    attributes = {"sequences": len(back_seqs), "taps": (-1,) * carried, "tap_counts": (1,) * carried}
    # Carries and accumulators are needed after the last step only.
    attributes.update(reverse=not op.reverse, last_only=tuple(range(carried)))
    back_layout = ScanLayout(len(back_seqs), (1,) * carried, (-1,) * carried, len(back_operands))
    block = Block(argument_types(back_layout, [v.type for v in back_operands]))
    arg = iter(block.args)
    groups = (parts.seqs, tap_rows, cotangents, stacked, carries, accumulators, parts.nonseqs)
    seq_args, tap_args, cot_args, out_args, carry_args, acc_args, nonseq_args = (
        [next(arg) for _ in g] for g in groups
    )
    cot_by_result = dict(zip(cotangents, cot_args, strict=True))
    args = _Args(seq_args, tap_args, cot_by_result, out_args, carry_args, acc_args, nonseq_args)
    _backward_step(parts, block, args)
    backward = builder.insert(Scan.create(back_operands, attributes, [Region([block])]))
    return _operand_gradients(builder, parts, backward.results, len(carries), len(accumulators), window)


def _stacked(builder: Builder, op: Scan) -> list[Value]:
    """The scan's results with every state stacked: a copy of it without `last_only`."""
    attributes = {key: value for key, value in op.attributes.items() if key not in ("last_only", "into")}
    copy = Scan.create(op.operands, attributes, [Region([clone_block(op.body.block, {})])])
    return builder.insert(copy).results


def _carry_start(builder: Builder, init: Value, final_cotangent: Value | None) -> Value:
    """A carry's initial row: zeros, or the cotangent of a last-only state's final value."""
    if final_cotangent is None:
        return _zero_row(builder, init)
    row = builder.dimshuffle(final_cotangent, [-1, *range(final_cotangent.type.rank)])
    return builder.retype(row, _zero_row(builder, init).type)


class _Window(NamedTuple):
    """The forward steps the gradient goes back through: `steps` of them from row `start`, and
    whether that reaches the initial values (`complete`: None when always)."""

    steps: Value
    start: Value | None
    complete: Value | None


def _window(builder: Builder, op: Scan) -> _Window:
    n = op.operands[0]
    if op.truncate_gradient < 0:
        return _Window(n, None, None)
    k = builder.constant(op.truncate_gradient, n.type.dtype)
    steps = builder.op("tx.minimum", n, k)
    # The last steps run: the last rows, or the first ones for a reverse scan.
    start = None if op.reverse else builder.op("tx.sub", n, steps)
    return _Window(steps, start, builder.op("tx.le", n, k))


def _from_row(builder: Builder, value: Value, start: Value | None) -> Value:
    if start is None:
        return value
    return builder.op("tx.subtensor", value, start, spec=("$:",))


def _backward_step(parts: _Parts, block: Block, args: _Args) -> None:
    """The forward step copied into `block`, then backpropagated from its outputs' cotangents."""
    from .grad import backpropagate_body

    layout, forward = parts.layout, parts.op.body.block
    fwd_args = forward.args
    n_seqs, n_taps = len(args.seqs), len(args.taps)
    mapping: dict[Value, Value] = dict(zip(fwd_args[:n_seqs], args.seqs, strict=True))
    mapping.update(zip(fwd_args[n_seqs : n_seqs + n_taps], args.taps, strict=True))
    mapping.update(zip(fwd_args[n_seqs + n_taps :], args.nonseqs, strict=True))
    step = Builder(block)
    # The cotangent of each step output: its row's own, plus (a state) the taps of later steps.
    carry_of = _carry_positions(layout, parts.floats)
    seeds: dict[int, list[Value]] = {}
    for index, value in enumerate(forward.terminator.operands):  # type: ignore[union-attr]
        if value.type.dtype.is_float:
            seeds[index] = [args.cotangents[index]] if index in args.cotangents else []
            if index in carry_of:
                seeds[index].append(args.carries[carry_of[index] + layout.lookback(index) - 1])
    sources = [*args.seqs, *args.taps, *args.nonseqs]
    grads = backpropagate_body(forward, step, mapping, seeds, sources, dict(enumerate(args.outputs)))
    yielded = _new_carries(step, parts, args, grads, carry_of)
    for position, p in enumerate(parts.float_nonseqs):
        d, acc = grads.get(args.nonseqs[p]), args.accumulators[position]
        yielded.append(step.retype(step.op("tx.add", acc, d), acc.type) if d is not None else acc)
    for k in parts.float_seqs:
        d = grads.get(args.seqs[k])
        yielded.append(step.retype(d, args.seqs[k].type) if d is not None else step.fill(args.seqs[k], 0.0))
    step.insert(Return.create(yielded))


def _new_carries(
    step: Builder, parts: _Parts, args: _Args, grads: dict[Value, Value], carry_of: dict[int, int]
) -> list[Value]:
    """Carry j of a state after step t: carry j - 1 before it, plus what tap j - L sent back."""
    layout, out, first_tap = parts.layout, [], 0
    for k in range(layout.states):
        taps = layout.state_taps(k)
        if k in carry_of:
            base, lookback = carry_of[k], layout.lookback(k)
            for j in range(lookback):
                terms = [args.carries[base + j - 1]] if j >= 1 else []
                if j - lookback in taps:
                    d = grads.get(args.taps[first_tap + taps.index(j - lookback)])
                    terms += [d] if d is not None else []
                carry = args.carries[base + j]
                out.append(step.retype(_sum(step, terms), carry.type) if terms else step.fill(carry, 0.0))
        first_tap += len(taps)
    return out


def _operand_gradients(
    builder: Builder, parts: _Parts, results: list[Value], carries: int, accumulators: int, window: _Window
) -> list[Value | None]:
    """The forward operands' gradients from the backward scan's final carries and accumulators
    (its last-only results) and stacked sequence gradients."""
    op, layout = parts.op, parts.layout
    outs = iter(results)
    carry_results = [next(outs) for _ in range(carries)]
    acc_results = [next(outs) for _ in range(accumulators)]
    grads: list[Value | None] = [None] * len(op.operands)
    carry_of = _carry_positions(layout, parts.floats)
    for k in parts.floats:
        rows = [carry_results[carry_of[k] + j] for j in range(layout.lookback(k))]
        init_grad = _stack(builder, rows)
        if window.complete is not None:  # truncated before the first step: nothing reaches it
            init_grad = builder.op("tx.select", window.complete, init_grad, builder.fill(init_grad, 0.0))
        grads[layout.first_init + k] = builder.retype(init_grad, parts.inits[k].type)
    for position, p in enumerate(parts.float_nonseqs):
        grads[layout.first_nonsequence + p] = builder.retype(acc_results[position], parts.nonseqs[p].type)
    for k in parts.float_seqs:
        grads[1 + k] = _pad(builder, next(outs), parts.seqs[k], window)
    return grads


def _carry_positions(layout: ScanLayout, floats: list[int]) -> dict[int, int]:
    """State k -> the index of its first carry."""
    positions, base = {}, 0
    for k in floats:
        positions[k] = base
        base += layout.lookback(k)
    return positions


def _history(builder: Builder, init: Value, result: Value, reverse: bool) -> Value:
    """Every value a state takes, in the order its taps index: the initial rows, then the steps'
    (a reverse scan's initial row comes last)."""
    parts = (result, init) if reverse else (init, result)
    return builder.op("tx.concatenate", *parts, axis=0)


def _rows_from(builder: Builder, value: Value, start: int) -> Value:
    return builder.op("tx.subtensor", value, spec=(f"{start}:",))


def _zero_row(builder: Builder, rows: Value) -> Value:
    """Zeros shaped like one row of `rows`, as a one-row initial value."""
    return builder.fill(builder.op("tx.subtensor", rows, spec=("0:1",)), 0.0)


def _stack(builder: Builder, rows: list[Value]) -> Value:
    expanded = [builder.dimshuffle(r, [-1, *range(r.type.rank)]) for r in rows]
    return expanded[0] if len(expanded) == 1 else builder.op("tx.concatenate", *expanded, axis=0)


def _pad(builder: Builder, rows: Value, sequence: Value, window: _Window) -> Value:
    """The window's rows of gradient placed into zeros shaped like the sequence (it may have
    more rows than the scan runs steps, and truncation leaves the first rows at zero)."""
    zeros = builder.fill(sequence, 0.0)
    if window.start is None:
        grad = builder.op("tx.inc_subtensor", zeros, rows, window.steps, spec=(":$",), set=True)
    else:
        stop = builder.op("tx.add", window.start, window.steps)
        grad = builder.op("tx.inc_subtensor", zeros, rows, window.start, stop, spec=("$:$",), set=True)
    return builder.retype(grad, sequence.type)


def _sum(builder: Builder, parts: list[Value]) -> Value:
    total = parts[0]
    for part in parts[1:]:
        total = builder.op("tx.add", total, part)
    return total
