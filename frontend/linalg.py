"""Matrix products in the builder: `T.dot(a, b)`, `a.dot(b)`, `a @ b` and `T.tensordot`.

Products of tensors of rank above 2 are tensordot, which is built from views
(dimshuffle), reshapes and one matrix product, so its gradient comes from
theirs and it runs on the same BLAS call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..ir.errors import TcValueError
from ..ir.ops.linalg import BatchedDot, Dot
from .graph import TensorLike, Variable, as_tensor_variable, cast_to, located, make_apply
from .promotion import result_dtype
from .shape_ops import reshape


def dot(a: TensorLike, b: TensorLike) -> Variable:
    """numpy's dot; both operands are promoted to one dtype.

    Vectors and matrices are one product; a scalar multiplies; for higher
    ranks a's last axis is contracted with b's second-to-last (its only axis
    for a vector), as numpy and Theano do.
    """
    x, y = as_tensor_variable(a), as_tensor_variable(b)
    if x.ndim == 0 or y.ndim == 0:
        return x * y
    if x.ndim > 2 or y.ndim > 2:
        return tensordot(x, y, [[x.ndim - 1], [max(0, y.ndim - 2)]])
    dtype = result_dtype([x, y])
    return make_apply(Dot, [cast_to(x, dtype), cast_to(y, dtype)]).out


def tensordot(a: TensorLike, b: TensorLike, axes: int | Sequence[Any] = 2) -> Variable:
    """numpy's tensordot: the sum over a's `axes[0]` and b's `axes[1]` of their product.

    `axes` is an int n (a's last n axes with b's first n) or a pair of axis
    lists of equal length. The result has a's other axes, then b's.
    """
    x, y = as_tensor_variable(a), as_tensor_variable(b)
    a_axes, b_axes = _contracted(x, y, axes)
    free_a = [i for i in range(x.ndim) if i not in a_axes]
    free_b = [i for i in range(y.ndim) if i not in b_axes]
    left = reshape(x.dimshuffle(*free_a, *a_axes), (_product(x, free_a), _product(x, a_axes)))
    right = reshape(y.dimshuffle(*b_axes, *free_b), (_product(y, b_axes), _product(y, free_b)))
    return reshape(dot(left, right), (*_sizes(x, free_a), *_sizes(y, free_b)))


def _contracted(x: Variable, y: Variable, axes: Any) -> tuple[list[int], list[int]]:
    """The axes of x and of y that tensordot sums over, checked and made non-negative."""
    if isinstance(axes, int) and not isinstance(axes, bool):
        if not 0 <= axes <= min(x.ndim, y.ndim):
            raise TcValueError(
                located(f"tensordot: axes={axes} must be between 0 and the smaller rank ({x.ndim}, {y.ndim})")
            )
        return list(range(x.ndim - axes, x.ndim)), list(range(axes))
    if not isinstance(axes, (list, tuple)) or len(axes) != 2:
        raise TcValueError(located(f"tensordot: axes must be an int or a pair of axis lists, found {axes!r}"))
    pair = [[int(v)] if isinstance(v, int) else list(v) for v in axes]
    if len(pair[0]) != len(pair[1]):
        raise TcValueError(located(f"tensordot: axes {axes!r} must list as many axes of a as of b"))
    result = []
    for value, listed in zip((x, y), pair, strict=True):
        normal = []
        for axis in listed:
            if not isinstance(axis, int) or not -value.ndim <= axis < value.ndim:
                raise TcValueError(located(f"tensordot: axis {axis!r} is out of range for {value.type}"))
            normal.append(axis % value.ndim)
        if len(set(normal)) != len(normal):
            raise TcValueError(located(f"tensordot: axes {listed!r} repeat an axis of {value.type}"))
        result.append(normal)
    return result[0], result[1]


def _sizes(x: Variable, axes: Sequence[int]) -> list[Any]:
    """The sizes of `axes`: static where the type knows them, else symbolic."""
    return [x.type.shape[a] if x.type.shape[a] is not None else x.shape[a] for a in axes]


def _product(x: Variable, axes: Sequence[int]) -> Any:
    total: Any = 1
    for size in _sizes(x, axes):
        total = total * size
    return total


def batched_dot(a: TensorLike, b: TensorLike) -> Variable:
    """Theano's batched_dot: c[i] = a[i] . b[i] for 3-d tensors (batches of matrices)."""
    x, y = as_tensor_variable(a), as_tensor_variable(b)
    dtype = result_dtype([x, y])
    return make_apply(BatchedDot, [cast_to(x, dtype), cast_to(y, dtype)]).out


def matmul(a: TensorLike, b: TensorLike) -> Variable:
    """numpy's matmul: dot for vectors and matrices, batched_dot for two 3-d tensors."""
    x, y = as_tensor_variable(a), as_tensor_variable(b)
    if x.ndim == 3 and y.ndim == 3:
        return batched_dot(x, y)
    return dot(x, y)


def dimshuffle(x: TensorLike, *pattern: int | str) -> Variable:
    """Theano's dimshuffle: output axis i is input axis pattern[i], or a new
    broadcastable axis for 'x'; input axes of length 1 may be left out."""
    from ..ir.ops.views import DimShuffle

    if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
        pattern = tuple(pattern[0])
    encoded = tuple(-1 if p == "x" else p for p in pattern)
    return make_apply(DimShuffle, [as_tensor_variable(x)], {"pattern": encoded}).out  # type: ignore[dict-item]


def transpose(x: TensorLike, axes: tuple[int, ...] | None = None) -> Variable:
    """Axes reversed (or permuted by `axes`), as numpy; a view, no copy."""
    value = as_tensor_variable(x)
    order = (
        tuple(reversed(range(value.type.rank))) if axes is None else tuple(a % value.type.rank for a in axes)
    )
    return dimshuffle(value, *order)
