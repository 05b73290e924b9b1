"""The rules a shape plan checks before a call, and the errors it raises when one breaks.

Three kinds of rule: a `Constraint` (two sizes equal, for broadcasting or a
product's paired axes), a `Bound` (a size at least some minimum) and a
`Requirement` (a value-level rule: an index in range, matching element
counts). The compiled plan only says *that* a rule broke; the functions here
walk the terms again to say *which* and where, so the messages name the op,
its location and the argument whose size disagrees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import TcIndexError, TcShapeError, TcValueError
from .shape_terms import ArgDim, Data, Term, evaluate_term


@dataclass(frozen=True)
class Requirement:
    """A value-level rule an op needs (an index in range, matching element counts, ...).

    `kind` picks the test and the error in REQUIREMENTS; `terms` are its inputs.
    """

    kind: str
    terms: tuple[Term | tuple[Term, ...], ...]
    op_name: str
    location: str


@dataclass(frozen=True)
class Bound:
    """A dimension an op needs to be at least `minimum` (e.g. a non-empty population)."""

    term: Term
    minimum: int
    what: str
    op_name: str
    location: str


@dataclass(frozen=True)
class Constraint:
    """Two dimensions an op needs equal; `op` is kept for the error message."""

    left: Term
    right: Term
    op_name: str
    location: str
    # For a product, the axes of the left and right operand that it pairs (their sizes must be
    # equal, there is no broadcasting), and how it pairs them ("contracts"); None for broadcasting.
    pairs: tuple[int, int, str] | None = None


# Why a `?` that happens to be 1 does not stretch: the most common surprise for a Theano newcomer.
BROADCAST_RULE = (
    "; sizes must be equal, or one of them statically 1: a dimension stretches only "
    "where its type says 1 (T.row, T.col, x.dimshuffle('x', 0), or f64[1, ?] in .tx), "
    "never where it is ? and happens to be 1"
)


def check_bound(b: Bound, shapes: Sequence[tuple[int, ...]], data: Data = None) -> None:
    """Raise TcShapeError if the bounded size is below its minimum."""
    found = evaluate_term(b.term, shapes, data)
    if found < b.minimum:
        raise TcShapeError(f"{b.op_name} at {b.location} needs at least {b.minimum} {b.what}, found {found}")


def check_constraint(
    c: Constraint, arg_names: Sequence[str], shapes: Sequence[tuple[int, ...]], data: Data = None
) -> None:
    """Raise TcShapeError, naming the arguments whose sizes disagree, if the two sizes differ."""
    left, right = evaluate_term(c.left, shapes, data), evaluate_term(c.right, shapes, data)
    if left == right:
        return
    found = f"{describe(c.left, arg_names, shapes, data)} but {describe(c.right, arg_names, shapes, data)}"
    if c.pairs is not None:
        left_axis, right_axis, how = c.pairs
        raise TcShapeError(
            f"{c.op_name} at {c.location} {how} dimension {left_axis} of the left operand "
            f"(size {left}) with dimension {right_axis} of the right (size {right}): {found}"
        )
    rule = BROADCAST_RULE if 1 in (left, right) else ""
    raise TcShapeError(f"shapes do not broadcast in {c.op_name} at {c.location}: {found}{rule}")


def describe(
    term: Term, arg_names: Sequence[str], shapes: Sequence[tuple[int, ...]], data: Data = None
) -> str:
    """Where a size comes from, in the user's words: an argument's axis, a fixed or a computed size."""
    if isinstance(term, int):
        return f"a dimension is fixed at {term}"
    if not isinstance(term, ArgDim):
        return f"a computed size is {evaluate_term(term, shapes, data)}"
    name = arg_names[term.arg]
    kind = "shared variable" if name.startswith("@") else "argument"
    return f"{kind} '{name.lstrip('@')}' has size {shapes[term.arg][term.axis]} on axis {term.axis}"


def check_requirement(r: Requirement, shapes: Sequence[tuple[int, ...]], data: Data = None) -> None:
    """Raise the error of requirement `r` (TcIndexError, TcValueError, TcShapeError) if it breaks."""
    test = REQUIREMENTS.get(r.kind)
    if test is None:
        raise AssertionError(f"unknown requirement {r.kind}")
    test(r, _Evaluator(shapes, data), f"{r.op_name} at {r.location}")


class _Evaluator:
    """Terms and tuples of terms evaluated for one call's shapes and values."""

    def __init__(self, shapes: Sequence[tuple[int, ...]], data: Data) -> None:
        self.shapes, self.data = shapes, data

    def one(self, term: object) -> int:
        return evaluate_term(term, self.shapes, self.data)  # type: ignore[arg-type]

    def many(self, terms: object) -> tuple[int, ...]:
        return tuple(evaluate_term(t, self.shapes, self.data) for t in terms)  # type: ignore[attr-defined]


def _index(r: Requirement, value: _Evaluator, where: str) -> None:
    index, size, axis = (value.one(t) for t in r.terms)
    if not -size <= index < size:
        raise TcIndexError(f"{where}: index {index} is out of bounds for axis {axis} with size {size}")


def _step(r: Requirement, value: _Evaluator, where: str) -> None:
    if value.one(r.terms[0]) == 0:
        raise TcValueError(f"{where}: the step must not be zero")


def _sizes(r: Requirement, value: _Evaluator, where: str) -> None:
    sizes = value.many(r.terms[0])
    if any(d < 0 for d in sizes):
        raise TcValueError(f"{where}: negative size in shape {sizes}")


def _reshape(r: Requirement, value: _Evaluator, where: str) -> None:
    source, wanted = value.many(r.terms[0]), value.many(r.terms[1])
    infer: tuple[int, ...] = r.terms[2]  # type: ignore[assignment]
    total = int(np.prod(source, dtype=np.int64))
    known = [d for k, d in enumerate(wanted) if k not in infer]
    rest = int(np.prod(known, dtype=np.int64))
    fits = rest == total if not infer else rest != 0 and total % rest == 0
    if any(d < 0 for d in known) or not fits:
        note = " (only a literal -1 is inferred)" if any(d < 0 for d in known) else ""
        raise TcShapeError(f"{where}: cannot reshape an array of shape {source} into shape {wanted}{note}")


def _concatenate(r: Requirement, value: _Evaluator, where: str) -> None:
    first, other = value.many(r.terms[0]), value.many(r.terms[1])
    axis = r.terms[2][0]  # type: ignore[index]
    if any(a != b for k, (a, b) in enumerate(zip(first, other, strict=True)) if k != axis):
        raise TcShapeError(
            f"{where}: shapes {first} and {other} differ on an axis other than the joined axis {axis}"
        )


def _scan_steps(r: Requirement, value: _Evaluator, where: str) -> None:
    n = value.one(r.terms[0])
    if n < 0:
        raise TcValueError(f"{where}: the number of steps must not be negative, found {n}")
    for k, length in enumerate(value.many(r.terms[1])):
        if length < n:
            raise TcShapeError(f"{where}: sequence #{k} has {length} rows but the scan runs {n} steps")


# A requirement's kind -> its test, which raises the error users see.
REQUIREMENTS: dict[str, Callable[[Requirement, _Evaluator, str], None]] = {
    "index": _index,
    "step": _step,
    "sizes": _sizes,
    "reshape": _reshape,
    "concatenate": _concatenate,
    "scan_steps": _scan_steps,
}
