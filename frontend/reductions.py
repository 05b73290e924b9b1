"""Reductions in the builder: `T.sum(x, axis=1)`, `x.mean()`, `T.argmax(p, axis=1)`, ...

`axis` is None (every axis), an int or a tuple of ints, negative counting from
the end, as in numpy; `keepdims` keeps the reduced axes with length 1. var and
std are built from mean, so they need no op of their own. sum, prod and mean
take Theano's `dtype` (numpy's: the input is converted to it first, so it is
also the accumulator) and `acc_dtype` (the accumulator only; the result
keeps the default dtype unless `dtype` says otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir.errors import TcValueError
from ..ir.ops.reduce import Reduce
from .graph import DTypeSpec, TensorLike, Variable, as_tensor_variable, cast_to, make_apply, parse_dtype

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


def _accumulated(
    kind: str, x: TensorLike, axis: Axis, dtype: DTypeSpec, keepdims: bool, acc_dtype: DTypeSpec
) -> Variable:
    value = as_tensor_variable(x)
    if isinstance(dtype, bool):  # `x.sum(axis, True)`: keepdims, from before dtype came second
        dtype, keepdims = None, dtype
    if dtype is None and acc_dtype is None:
        return _reduce(kind, value, axis, keepdims)
    accumulator = parse_dtype(acc_dtype if acc_dtype is not None else dtype)
    result = _reduce(kind, cast_to(value, accumulator), axis, keepdims)
    if dtype is not None:
        return cast_to(result, parse_dtype(dtype))
    return cast_to(result, _reduce(kind, value, axis, keepdims).type.dtype)


def sum(  # noqa: A001
    x: TensorLike,
    axis: Axis = None,
    dtype: DTypeSpec = None,
    keepdims: bool = False,
    acc_dtype: DTypeSpec = None,
) -> Variable:
    return _accumulated("sum", x, axis, dtype, keepdims, acc_dtype)


def prod(
    x: TensorLike,
    axis: Axis = None,
    dtype: DTypeSpec = None,
    keepdims: bool = False,
    acc_dtype: DTypeSpec = None,
) -> Variable:
    return _accumulated("prod", x, axis, dtype, keepdims, acc_dtype)


def mean(
    x: TensorLike,
    axis: Axis = None,
    dtype: DTypeSpec = None,
    keepdims: bool = False,
    acc_dtype: DTypeSpec = None,
) -> Variable:
    return _accumulated("mean", x, axis, dtype, keepdims, acc_dtype)


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
    return mean(deviation * deviation, axis, keepdims=keepdims)


def std(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Variable:
    from .elemwise import sqrt

    return sqrt(var(x, axis, keepdims))
