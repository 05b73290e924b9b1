"""`tc.scan`: Theano's scan, built as one `tx.scan` op whose region is the step function.

    outputs, updates = tc.scan(fn, sequences=..., outputs_info=..., non_sequences=...)

`fn` is called once, on placeholder variables, in Theano's argument order:
each sequence's taps, then each recurrent output's taps, then the
non-sequences. What it builds becomes the step body. Variables it reads from
outside (weights, shared variables, anything not computed from the
placeholders) become non-sequences of the op, so the body is isolated from
above; a random stream drawn from inside the step, or a shared variable `fn`
updates, becomes a state carried from step to step, and its value after the
last step is in the returned `updates` (pass them to `tc.function`).

Sequences with taps are rows of the same tensor shifted: tap k of a
sequence with taps from m to M reads row t + k - m, so the scan runs
len - (M - m) steps (the fewest over all sequences) unless `n_steps` says.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..ir.core import Region
from ..ir.dtypes import DType
from ..ir.errors import TcTypeError, TcValueError
from ..ir.ops.scan import Scan
from ..ir.types import TensorType
from .graph import Apply, Variable, as_tensor_variable, cast_to, located, user_location
from .scan_body import carried_shared, checked_indexing, free_variables, retype_returned
from .shared import SharedVariable
from .until_rows import head_rows


@dataclass
class _State:
    """A recurrent output: its initial rows (L = -min(taps) of them) and taps."""

    init: Variable  # (L, *row)
    taps: list[int]
    row: TensorType
    position: int | None  # where it is among the user's outputs (None: an internal state)
    placeholders: list[Variable] = field(default_factory=list)
    shared: SharedVariable | None = None  # a random stream or a shared variable the step updates


def scan(
    fn: Callable[..., Any],
    sequences: Any = None,
    outputs_info: Any = None,
    non_sequences: Any = None,
    n_steps: Any = None,
    truncate_gradient: int = -1,
    go_backwards: bool = False,
    mode: Any = None,
    name: str | None = None,
    profile: Any = False,
    allow_gc: Any = None,
    strict: bool = False,
    return_list: bool = False,
) -> tuple[Any, OrderedDict[SharedVariable, Variable]]:
    """Theano's `scan`: returns `(outputs, updates)`; see the module docstring."""
    if (
        isinstance(truncate_gradient, bool)
        or not isinstance(truncate_gradient, int)
        or truncate_gradient < -1
    ):
        raise TcValueError(
            located(
                "scan: truncate_gradient must be -1 (the full gradient) or a number of steps k >= 0, "
                f"found {truncate_gradient!r}"
            )
        )
    seqs = [_sequence(s, index) for index, s in enumerate(_as_list(sequences))]
    infos = _as_list(outputs_info)
    nonseqs = [as_tensor_variable(v) for v in _as_list(non_sequences)]
    steps = _steps(seqs, n_steps)
    rows = _sequence_rows(seqs, go_backwards)
    states = [_state(info, index) for index, info in enumerate(infos)]
    seq_args = [Variable(TensorType(r.type.dtype, r.type.shape[1:]), name=_name(r, "t")) for r in rows]
    for state in states:
        if state is not None:
            state.placeholders = [
                Variable(state.row, name=f"{state.init.name or 'state'}[t{k}]") for k in state.taps
            ]
    # Theano hands the step the non-sequences themselves (a T.grad inside may differentiate
    # through how they were computed); like any outer variable the step reads, they are captured.
    nonseq_args = nonseqs
    state_args = [p for s in states if s is not None for p in s.placeholders]
    returned = fn(*seq_args, *state_args, *nonseq_args)
    outputs, inner_updates, stop = _split_return(returned)
    if infos and len(outputs) != len(infos):
        raise TcValueError(
            located(
                f"scan: the step returns {len(outputs)} output(s) but outputs_info has {len(infos)} entries"
            )
        )
    if not infos:
        states = [None] * len(outputs)
    step = _Step(seq_args, nonseqs, outputs, inner_updates, stop)
    return _build(step, steps, rows, states, return_list, truncate_gradient)


# -- arguments ------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _sequence(spec: Any, index: int) -> tuple[Variable, list[int]]:
    if isinstance(spec, dict):
        if "input" not in spec:
            raise TcValueError(located(f"scan: sequence #{index} is a dict without 'input'"))
        variable, taps = as_tensor_variable(spec["input"]), list(spec.get("taps", [0]) or [0])
    else:
        variable, taps = as_tensor_variable(spec), [0]
    if variable.ndim == 0:
        raise TcTypeError(located(f"scan: sequence #{index} ({variable.type}) is a scalar; it needs rows"))
    if not all(isinstance(k, int) for k in taps):
        raise TcTypeError(located(f"scan: the taps of sequence #{index} must be integers, found {taps}"))
    return variable, taps


def _state(info: Any, index: int) -> _State | None:
    if info is None:
        return None
    if isinstance(info, dict):
        if info.get("initial") is None:
            return None
        initial, taps = as_tensor_variable(info["initial"]), list(info.get("taps", [-1]) or [-1])
    else:
        initial, taps = as_tensor_variable(info), [-1]
    if not taps or any(not isinstance(k, int) or k >= 0 for k in taps):
        raise TcValueError(located(f"scan: output #{index} has taps {taps}; they must be negative integers"))
    if taps == [-1]:  # the initial value is the state itself
        return _State(initial.dimshuffle("x", *range(initial.ndim)), taps, initial.type, index)
    lookback = -min(taps)
    if initial.ndim == 0:
        raise TcTypeError(
            located(f"scan: output #{index} with taps {taps} needs an initial value with {lookback} rows")
        )
    row = TensorType(initial.type.dtype, initial.type.shape[1:])
    init = initial[:lookback]
    return _State(init, taps, row, index)


def _steps(seqs: list[tuple[Variable, list[int]]], n_steps: Any) -> Variable:
    if n_steps is not None:
        steps = as_tensor_variable(n_steps)
        if steps.ndim != 0 or not steps.type.dtype.is_integer:
            raise TcTypeError(located(f"scan: n_steps must be an integer scalar, found {steps.type}"))
        return cast_to(steps, DType.I64)
    if not seqs:
        raise TcValueError(located("scan: without sequences, n_steps must be given"))
    from .elemwise import GENERATED

    lengths = [seq.shape[0] - (max(taps) - min(taps)) for seq, taps in seqs]
    steps = lengths[0]
    for length in lengths[1:]:
        steps = GENERATED["minimum"](steps, length)
    return cast_to(steps, DType.I64)


def _sequence_rows(seqs: list[tuple[Variable, list[int]]], go_backwards: bool) -> list[Variable]:
    """One operand per (sequence, tap): the rows tap k reads, row t at step t."""
    rows = []
    for seq, taps in seqs:
        ordered = seq[::-1] if go_backwards else seq
        rows += [ordered[k - min(taps) :] if k != min(taps) else ordered for k in taps]
    return rows


def _name(variable: Variable, suffix: str) -> str | None:
    return f"{variable.name}[{suffix}]" if variable.name else None


class until:  # noqa: N801 (Theano's name: `theano.scan_module.until`)
    """Theano's early exit of a scan step, returned last: `return h * 2, until(h * 2 > limit)`.
    The scan stops after the first step whose condition holds (or after n_steps); its
    results have one row per step run, a length known only once the loop ran: they can be
    a function's results, or indexed with an integer (`values[-1]`)."""

    def __init__(self, condition: Any) -> None:
        self.condition = as_tensor_variable(condition)
        if self.condition.ndim != 0:
            raise TcTypeError(located(f"scan: until takes a scalar condition, found {self.condition.type}"))


def _split_return(
    returned: Any,
) -> tuple[list[Variable], list[tuple[SharedVariable, Variable]], Variable | None]:
    """Theano's step results: outputs, an updates dict, or a tuple of both (either order),
    with an `until` last; the stop condition, as bool, is the third result (None without)."""
    parts = list(returned) if isinstance(returned, (tuple, list)) else [returned]
    stop = None
    if parts and isinstance(parts[-1], until):
        condition = parts.pop().condition
        stop = condition if condition.type.dtype is DType.BOOL else cast_to(condition, DType.BOOL)
        returned = parts[0] if len(parts) == 1 else tuple(parts)
    if any(isinstance(part, until) for part in parts):
        raise TcValueError(located("scan: the step must return its until(...) last"))
    outputs: list[Any] = []
    updates: list[tuple[SharedVariable, Variable]] = []
    parts = list(returned) if isinstance(returned, tuple) else [returned]  # a list is the outputs
    if len(parts) == 2 and isinstance(parts[0], dict) != isinstance(parts[1], dict):
        parts = [parts[1], parts[0]] if isinstance(parts[0], dict) else parts
        outputs, updates = _as_list(parts[0]), list(parts[1].items())
    elif len(parts) == 1 and isinstance(parts[0], dict):
        updates = list(parts[0].items())
    elif len(parts) == 1:
        outputs = _as_list(parts[0])
    else:
        outputs = parts
    for target, _ in updates:
        if not isinstance(target, SharedVariable):
            raise TcTypeError(located(f"scan: the step updates {target!r}, which is not a shared variable"))
    outputs = [as_tensor_variable(v) for v in outputs]
    return outputs, [(s, as_tensor_variable(v)) for s, v in updates], stop


# -- the op -----------------------------------------------------------------------------------


class _Step(NamedTuple):
    """What the step function saw and built: the placeholders of the sequences' rows, the
    non-sequences it was handed, its outputs and its updates."""

    sequence_args: list[Variable]
    nonsequences: list[Variable]
    outputs: list[Variable]
    updates: list[tuple[SharedVariable, Variable]]
    stop: Variable | None  # until's condition, as bool


def _build(
    step: _Step,
    steps: Variable,
    rows: list[Variable],
    states: list[_State | None],
    return_list: bool,
    truncate_gradient: int,
) -> tuple[Any, OrderedDict[SharedVariable, Variable]]:
    sequence_args, outputs = step.sequence_args, step.outputs
    recurrent = [(s, out) for s, out in zip(states, outputs, strict=True) if s is not None]
    plain = [out for s, out in zip(states, outputs, strict=True) if s is None]
    for state, out in recurrent:
        _check_state_output(state, out)
    # Shared variables the step updates, and random streams it draws from, are carried.
    carried = carried_shared(outputs, step.updates, step.nonsequences)
    internal = []
    for variable, next_value in carried:
        init = variable.dimshuffle("x", *range(variable.ndim))
        placeholder = Variable(variable.type, name=variable.name)
        internal.append((_State(init, [-1], variable.type, None, [placeholder], variable), next_value))
    all_states = [s for s, _ in recurrent] + [s for s, _ in internal]
    step_outputs = [out for _, out in recurrent] + [v for _, v in internal] + plain
    if step.stop is not None:
        step_outputs.append(step.stop)
    placeholders = sequence_args + [p for s in all_states for p in s.placeholders]
    carried_roots = [s.shared for s, _ in internal if s.shared is not None]
    captured = free_variables(step_outputs, placeholders + carried_roots, step.nonsequences)
    nonsequences = captured
    capture_args = [Variable(v.type, name=v.name) for v in captured]
    bound: dict[Variable, Variable] = dict(zip(captured, capture_args, strict=True))
    for state, _ in internal:
        assert state.shared is not None
        bound[state.shared] = state.placeholders[0]
    inputs = placeholders + capture_args
    taps = [k for s in all_states for k in s.taps]
    attributes = {
        "sequences": len(rows),
        "taps": tuple(taps),
        "tap_counts": tuple(len(s.taps) for s in all_states),
        "truncate_gradient": truncate_gradient,
        "until": step.stop is not None,
    }
    operands = [steps, *rows, *(s.init for s in all_states), *nonsequences]
    result_types = [TensorType(s.row.dtype, (None, *s.row.shape)) for s in all_states]
    result_types += [TensorType(v.type.dtype, (None, *v.type.shape)) for v in plain]
    if step.stop is not None:  # the number of steps run
        result_types.append(TensorType(DType.I64, ()))
    location = user_location()
    results = [Variable(t, location=location) for t in result_types]
    expected = [s.row for s in all_states] + [v.type for v in plain]
    if step.stop is not None:
        expected.append(step.stop.type)

    def regions() -> list[Region]:
        from .lower import lower_body

        block = lower_body("scan", inputs, step_outputs, bound)
        retype_returned(block, expected)
        checked_indexing(block, len(placeholders))
        return [Region([block])]

    Apply(Scan, operands, attributes, results, location, regions=regions)
    if step.stop is not None:
        results = [head_rows(r, results[-1]) for r in results[:-1]]
    stacked = results[: len(recurrent)]
    finals = results[len(recurrent) : len(all_states)]
    others = iter(results[len(all_states) :])
    ordered_states = iter(stacked)
    user_outputs = [next(ordered_states) if s is not None else next(others) for s in states]
    updates: OrderedDict[SharedVariable, Variable] = OrderedDict()
    for (state, _), final in zip(internal, finals, strict=True):
        assert state.shared is not None
        updates[state.shared] = final[-1]
    if not return_list and len(user_outputs) == 1:
        return user_outputs[0], updates
    return user_outputs, updates


def _check_state_output(state: _State, out: Variable) -> None:
    if out.type.dtype is not state.row.dtype or out.ndim != state.row.rank:
        raise TcTypeError(
            located(
                f"scan: output #{state.position} of the step is {out.type} but its initial value in "
                f"outputs_info gives {state.row}; a recurrent output must keep its dtype and rank "
                "(cast the initial value or the output)"
            )
        )
