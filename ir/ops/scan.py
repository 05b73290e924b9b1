"""Loops: `tx.scan`, Theano's scan as one op whose region is the step function.

```
%hs, %ys = tx.scan %n, %xs, %h0, %W {sequences = 1, taps = [-1], tap_counts = [1]}
    : (tensor<i64>, tensor<?x4xf32>, tensor<1x8xf32>, tensor<4x8xf32>)
    -> (tensor<?x8xf32>, tensor<?xf32>) ({
^bb0(%x: tensor<4xf32>, %h: tensor<8xf32>, %w: tensor<4x8xf32>):
  ...
  return %h2, %y : tensor<8xf32>, tensor<f32>
})
```

Operands: the step count `n` (an int64 scalar), then `sequences` sequences
(each iterated along axis 0; step t reads row t, so each needs at least n rows),
then one initial buffer per recurrent state, then the non-sequences (read whole
by every step). State k has `tap_counts[k]` taps among `taps` (negative: -1 is
the previous step's value); its initial buffer has L = -min(taps) rows, row j
standing for step j - L, and every step's value has the type of one row.

The region is a function body, isolated from above (everything it reads is a
block argument): one argument per sequence (a row), per state tap (in taps
order), per non-sequence; it returns each state's new value, then the
outputs that are not fed back. Results: each state's values of the n steps,
then each other output's, stacked along a new axis 0 (the initial rows are not
part of them, as in Theano).

`truncate_gradient = k` (k >= 0) limits the gradient to the last k steps run (Theano's
truncated backpropagation through time); -1, the default, is the full gradient.

`last_only = [k, ...]`: those states' results are their value after the last step (the
initial row when there are no steps), not every step's values stacked; such a state takes
only tap -1, and the loop keeps two rows of it, not n.

`until`: Theano's early exit (`theano.scan_module.until`). The step returns, last, a bool
scalar; the loop stops after the first step that returns true. The scan then has one more
result, last: `count`, a tensor<i64>, the number of steps run (n when none said stop). The
stacked results keep n rows, of which the first `count` are the steps' values (the rest are
unspecified): `tx.head` (ir/ops/head.py) takes those rows as a function's result.

`reverse`: the steps run from t = n - 1 down to 0, row t of every sequence and
result belonging to step t; a state (one tap, -1) then starts from its initial
row at t = n - 1 and step t reads the value of step t + 1. The gradient of a
scan is a reverse scan (passes/grad_scan.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..attributes import Attribute, attr, int_tuple
from ..core import CALLABLE_BODY, FRESH, PURE, Operation, Region
from ..dtypes import DType
from ..errors import TcShapeError, TcTypeError, TcValueError, TcVerificationError
from ..types import TensorType

if TYPE_CHECKING:
    from ..shape_state import ShapeState


class ScanLayout(NamedTuple):
    """Where each kind of operand, block argument and result of a scan sits."""

    sequences: int
    tap_counts: tuple[int, ...]
    taps: tuple[int, ...]
    operands: int

    @property
    def states(self) -> int:
        return len(self.tap_counts)

    @property
    def first_init(self) -> int:
        return 1 + self.sequences

    @property
    def first_nonsequence(self) -> int:
        return self.first_init + self.states

    @property
    def nonsequences(self) -> int:
        return self.operands - self.first_nonsequence

    def state_taps(self, k: int) -> tuple[int, ...]:
        start = sum(self.tap_counts[:k])
        return self.taps[start : start + self.tap_counts[k]]

    def lookback(self, k: int) -> int:
        """L: how many initial rows state k needs."""
        return -min(self.state_taps(k))

    @property
    def first_state_arg(self) -> int:
        return self.sequences

    @property
    def first_nonsequence_arg(self) -> int:
        return self.sequences + len(self.taps)


class Scan(Operation):
    """A loop of `n` steps; see the module docstring for operands, region and results."""

    name = "tx.scan"
    traits = frozenset({PURE, CALLABLE_BODY, FRESH})
    num_regions = 1
    sequences = attr(int)
    taps = attr(tuple, convert=int_tuple)
    tap_counts = attr(tuple, convert=int_tuple)
    reverse = attr(bool, default=False)
    # Backpropagate through the last k steps only (Theano's truncate_gradient); -1: all of them.
    truncate_gradient = attr(int, default=-1)
    # States whose result is their last value only (double-buffered, not stacked).
    last_only = attr(tuple, convert=int_tuple, default=())
    # The step returns a stop condition last; the scan returns the number of steps run last.
    until = attr(bool, default=False)

    @property
    def layout(self) -> ScanLayout:
        return ScanLayout(self.sequences, self.tap_counts, self.taps, len(self.operands))

    @property
    def body(self) -> Region:
        return self.regions[0]

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        layout = _layout(operand_types, attributes)
        if not regions or regions[0].block.terminator is None:
            raise TcVerificationError(f"{cls.name}: the step body must end in return")
        returned = [v.type for v in regions[0].block.terminator.operands]
        until = attributes.get("until") is True
        if until:
            if not returned or returned[-1] != TensorType(DType.BOOL, ()):
                found = returned[-1] if returned else "nothing"
                raise TcTypeError(
                    f"{cls.name}: with until, the step must return its stop condition last, a "
                    f"tensor<bool>; found {found}"
                )
            returned = returned[:-1]
        if len(returned) < layout.states:
            raise TcTypeError(
                f"{cls.name}: the step returns {len(returned)} value(s) but there are {layout.states} states"
            )
        # A state's values have its initial rows' type; another output's, what the step returns.
        inits = operand_types[layout.first_init : layout.first_nonsequence]
        rows = [_row(t) for t in inits] + returned[layout.states :]
        last = attributes.get("last_only", ())
        last_only = set(last) if isinstance(last, tuple) else set()
        results = [t if k in last_only else TensorType(t.dtype, (None, *t.shape)) for k, t in enumerate(rows)]
        return results + [TensorType(DType.I64, ())] if until else results

    def verify_op(self) -> None:
        layout = self.layout
        block = self.body.block
        expected = argument_types(layout, [v.type for v in self.operands])
        found = [a.type for a in block.args]
        # Passes may learn or forget static sizes on either side; the shape plan checks them.
        if len(found) != len(expected) or not all(map(_compatible, found, expected)):
            raise TcVerificationError(
                f"{self.name}: the step takes ({', '.join(map(str, found))}) but the operands give "
                f"({', '.join(map(str, expected))})"
            )
        returned = [v.type for v in block.terminator.operands]  # type: ignore[union-attr]
        for k in range(layout.states):
            state = _row(self.operands[layout.first_init + k].type)
            if not _compatible(returned[k], state):
                raise TcTypeError(
                    f"{self.name}: the step returns {returned[k]} for state #{k}, whose initial value "
                    f"has rows of {state}; a state must keep its type"
                )
        if self.until and (self.reverse or self.last_only):
            raise TcVerificationError(f"{self.name}: a scan with until runs forwards and stacks every state")
        if self.reverse and any(t != -1 for t in layout.taps):
            raise TcVerificationError(f"{self.name}: a reverse scan's states take only tap -1")
        for k in self.last_only:
            if not 0 <= k < layout.states or layout.state_taps(k) != (-1,):
                raise TcVerificationError(
                    f"{self.name}: last_only names state #{k}, which must exist and take only tap -1"
                )
        for inner in block.ops:
            if inner.name in ("tx.load", "tx.store", "tx.given"):
                raise TcVerificationError(
                    f"{self.name}: {inner.name} cannot be in a step body (shared state is an operand)"
                )

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        from ..interpreter import run_block

        layout = self.layout
        n = int(operands[0])
        if n < 0:  # the shape plan's messages (ir/shape_checks.py), for the interpreter too
            raise TcValueError(
                f"{self.name} at {self.location}: the number of steps must not be negative, found {n}"
            )
        for k in range(layout.sequences):
            if len(operands[1 + k]) < n:
                raise TcShapeError(
                    f"{self.name} at {self.location}: sequence #{k} has {len(operands[1 + k])} rows "
                    f"but the scan runs {n} steps"
                )
        history = [list(np.asarray(operands[layout.first_init + k])) for k in range(layout.states)]
        nonsequences = operands[layout.first_nonsequence :]
        stacked: list[list[np.ndarray]] = [[] for _ in self.results]
        steps = range(n - 1, -1, -1) if self.reverse else range(n)
        count = n
        for t in steps:
            args = [np.asarray(operands[1 + k][t]) for k in range(layout.sequences)]
            for k in range(layout.states):
                args += [history[k][len(history[k]) + tap] for tap in layout.state_taps(k)]
            outs = run_block(self.body.block, [*args, *nonsequences])
            for k in range(layout.states):
                history[k].append(np.asarray(outs[k]))
            for column, out in zip(stacked, outs, strict=True):
                column.append(np.asarray(out))
            if self.until and bool(outs[-1]):
                count = t + 1
                break
        if self.until:  # n rows, as native code allocates them: those past `count` are zeros
            stacked.pop()
            for column in stacked:
                column += [np.zeros_like(column[0])] * (n - count)
        if self.reverse:
            for column in stacked:
                column.reverse()
        last_only = set(self.last_only)
        stacked_results = self.results[:-1] if self.until else self.results
        results = [_stack(c, r.type) for c, r in zip(stacked, stacked_results, strict=True)]
        if self.until:
            results.append(np.int64(count))
        for k in last_only:  # the value after the last step (the initial row without steps)
            results[k] = np.asarray(history[k][-1], self.results[k].type.dtype.numpy)
        return results

    def shape_rule(self, state: ShapeState) -> None:
        from ..scan_shapes import scan_shape_rule

        scan_shape_rule(self, state)


def _stack(rows: list[np.ndarray], type: TensorType) -> np.ndarray:
    if not rows:
        return np.zeros((0, *(d or 0 for d in type.shape[1:])), type.dtype.numpy)
    return np.stack(rows).astype(type.dtype.numpy, copy=False)


def _compatible(found: TensorType, expected: TensorType) -> bool:
    """The same dtype and rank, and equal sizes where both are static (optimising the body may
    learn sizes the state's type does not state; the shape plan checks them)."""
    return (
        found.dtype is expected.dtype
        and found.rank == expected.rank
        and all(a is None or b is None or a == b for a, b in zip(found.shape, expected.shape, strict=True))
    )


def _row(type: TensorType) -> TensorType:
    return TensorType(type.dtype, type.shape[1:])


def _layout(operand_types: Sequence[TensorType], attributes: dict[str, Attribute]) -> ScanLayout:
    sequences, taps, counts = (
        attributes.get("sequences"),
        attributes.get("taps"),
        attributes.get("tap_counts"),
    )
    if not isinstance(sequences, int) or not isinstance(taps, tuple) or not isinstance(counts, tuple):
        raise TcVerificationError("tx.scan needs the attributes sequences, taps and tap_counts")
    if sum(counts) != len(taps) or any(c < 1 for c in counts) or any(t >= 0 for t in taps):
        raise TcVerificationError(f"tx.scan: taps {list(taps)} do not fit tap_counts {list(counts)}")
    layout = ScanLayout(sequences, counts, taps, len(operand_types))
    if layout.nonsequences < 0:
        raise TcTypeError(
            f"tx.scan takes the step count, {sequences} sequence(s) and {len(counts)} initial value(s), "
            f"found {len(operand_types)} operand(s)"
        )
    if operand_types[0] != TensorType(DType.I64, ()):
        raise TcTypeError(f"tx.scan: the step count must be a tensor<i64>, found {operand_types[0]}")
    for k in range(sequences):
        if operand_types[1 + k].rank == 0:
            raise TcTypeError(f"tx.scan: sequence #{k} is a scalar ({operand_types[1 + k]}); it needs rows")
    for k in range(layout.states):
        init = operand_types[layout.first_init + k]
        lookback = layout.lookback(k)
        if init.rank == 0 or init.shape[0] not in (None, lookback):
            raise TcTypeError(
                f"tx.scan: state #{k} with taps {list(layout.state_taps(k))} needs an initial value of "
                f"{lookback} row(s), found {init}"
            )
    return layout


def argument_types(layout: ScanLayout, operand_types: Sequence[TensorType]) -> list[TensorType]:
    """The step body's argument types for these operands (the frontend builds bodies with it)."""
    types = [_row(operand_types[1 + k]) for k in range(layout.sequences)]
    for k in range(layout.states):
        types += [_row(operand_types[layout.first_init + k])] * layout.tap_counts[k]
    return types + list(operand_types[layout.first_nonsequence :])
