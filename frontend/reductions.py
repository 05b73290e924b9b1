"""Reductions in the builder: `T.sum(x, axis=1)`, `x.mean()`, `T.argmax(p, axis=1)`, ...

`axis` is None (every axis), an int or a tuple of ints, negative counting from
the end, as in numpy; `keepdims` keeps the reduced axes with length 1. var and
std are built from mean, so they need no op of their own.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir.errors import TcValueError
from ..ir.ops.reduce import Reduce
from .graph import TensorLike, Variable, as_tensor_variable, make_apply

Axis = int | Sequence[int] | None


def _axes(x: Variable, axis: Axis) -> tuple[int, ...]:
    rank = x.type.rank
    if axis is None:
        return tuple(range(rank))
    items = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = []
    for a in items:
        if not isinstance(a, int) or not -rank <= a < rank:
            raise TcValueError(f"axis {a} is out of range for a tensor of rank {rank}")
        normalized.append(a % rank)
    return tuple(sorted(normalized))


def _reduce(kind: str, x: TensorLike, axis: Axis, keepdims: bool) -> Variable:
    x = as_tensor_variable(x)
    attributes = {"kind": kind, "axes": _axes(x, axis), "keepdims": bool(keepdims)}
    return make_apply(Reduce, [x], attributes).out  # type: ignore[arg-type]


def sum(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Variable:  # noqa: A001
    return _reduce("sum", x, axis, keepdims)


def prod(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Variable:
    return _reduce("prod", x, axis, keepdims)


def mean(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Variable:
    return _reduce("mean", x, axis, keepdims)


def max(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Variable:  # noqa: A001
    return _reduce("max", x, axis, keepdims)


def min(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Variable:  # noqa: A001
    return _reduce("min", x, axis, keepdims)


def argmax(x: TensorLike, axis: int | None = None, keepdims: bool = False) -> Variable:
    return _reduce("argmax", x, axis, keepdims)


def argmin(x: TensorLike, axis: int | None = None, keepdims: bool = False) -> Variable:
    return _reduce("argmin", x, axis, keepdims)


def var(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Variable:
    """Population variance (numpy's ddof=0): the mean squared deviation from the mean."""
    x = as_tensor_variable(x)
    deviation = x - mean(x, axis, keepdims=True)
    return mean(deviation * deviation, axis, keepdims)


def std(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Variable:
    from .elemwise import sqrt

    return sqrt(var(x, axis, keepdims))
