"""The term language of the shape plan: sizes as expressions of the arguments.

A size is a term: a known int, `ArgDim` (an argument's axis), `ArgValue` (the
value of an integer scalar argument or global, or an entry of an integer
vector argument), or an `Expr` of integer arithmetic over terms (EXPRESSIONS:
add, floordiv, Python's slice length, arange's length, ..., wrapping at the
width of the dtype that computed it, as native code does). Terms are frozen
dataclasses so equal sizes compare equal: a constraint between two equal
terms is never emitted, and the compiled plan computes each distinct term once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .types import TensorType


@dataclass(frozen=True)
class ArgDim:
    """Axis `axis` of argument number `arg`, known only at call time."""

    arg: int
    axis: int


@dataclass(frozen=True)
class ArgValue:
    """The value of integer scalar argument (or global) number `arg`, known only at call time;
    with `index`, entry `index` of an integer vector argument (`x.reshape(shape, ndim=2)`)."""

    arg: int
    index: int | None = None


@dataclass(frozen=True)
class Expr:
    """Integer arithmetic over terms: `kind` is one of EXPRESSIONS (None: a default slice bound)."""

    kind: str
    args: tuple[Term | None, ...]


Term = int | ArgDim | ArgValue | Expr
# The arguments' and globals' arrays, handed over when a size depends on values.
Data = Sequence[Any] | None


def _slice_length(n: int, start: int | None, stop: int | None, step: int) -> int:
    return len(range(*slice(start, stop, step).indices(n)))


def _item(index: int, *terms: int) -> int:
    return terms[index]


def wrap(value: int, bits: int, signed: int) -> int:
    """`value` as a `bits`-bit machine integer holds it (as the native code computes)."""
    value %= 1 << bits
    return value - (1 << bits) if signed and value >= 1 << (bits - 1) else value


EXPRESSIONS: dict[str, Callable[..., int]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "floordiv": lambda a, b: a // b if b else 0,
    "mod": lambda a, b: a % b if b else 0,
    "neg": lambda a: -a,
    "max": max,
    "min": min,
    "prod": lambda *a: int(np.prod(a, dtype=np.int64)),
    "slice": _slice_length,  # (n, start, stop, step), Python's clamping
    "arange": lambda start, stop, step: len(range(start, stop, step)) if step else 0,
    "item": _item,  # (index, *terms): one entry of a vector of terms
    "wrap": wrap,  # (value, bits, signed): machine integer arithmetic wraps around
}


def expr(kind: str, *args: Term | None) -> Term:
    """An expression term, or its value when every argument is known now.

    Folding here keeps static sizes static: `prod(2, 3)` is the int 6, so no check
    or generated line is spent on it.
    """
    if all(a is None or isinstance(a, int) for a in args):
        return int(EXPRESSIONS[kind](*args))
    return Expr(kind, args)


def evaluate_term(term: Term | None, shapes: Sequence[tuple[int, ...]], data: Data = None) -> int:
    """The value of `term` for arguments of these shapes (and values): the tree walk that
    error messages use; the call path runs the compiled plan instead."""
    if isinstance(term, int):
        return term
    if isinstance(term, ArgDim):
        return shapes[term.arg][term.axis]
    if isinstance(term, ArgValue):
        assert data is not None, "a value-dependent shape needs the arguments' values"
        return int(data[term.arg] if term.index is None else data[term.arg][term.index])
    assert isinstance(term, Expr)
    args = [None if a is None else evaluate_term(a, shapes, data) for a in term.args]
    return int(EXPRESSIONS[term.kind](*args))


def mentions_values(term: object) -> bool:
    """Whether a term (or a tuple of them) reads an argument's value, not only its shape."""
    if isinstance(term, ArgValue):
        return True
    if isinstance(term, (tuple, Expr)):
        return any(mentions_values(t) for t in (term.args if isinstance(term, Expr) else term))
    return False


def is_int_scalar(type: TensorType) -> bool:
    """Whether values of this type may be tracked as a size (bools never are)."""
    return type.rank == 0 and type.dtype.is_integer and not type.dtype.is_bool


def is_int_vector(type: TensorType) -> bool:
    """Whether values of this type may be a shape (reshape's target, a vector argument)."""
    return type.rank == 1 and type.dtype.is_integer and not type.dtype.is_bool
