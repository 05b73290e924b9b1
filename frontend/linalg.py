"""Matrix products in the builder: `T.dot(a, b)`, `a.dot(b)` and `a @ b`."""

from __future__ import annotations

from ..ir.ops.linalg import BatchedDot, Dot
from .graph import TensorLike, Variable, as_tensor_variable, cast_to, make_apply
from .promotion import result_dtype


def dot(a: TensorLike, b: TensorLike) -> Variable:
    """numpy's dot for vectors and matrices; both operands are promoted to one dtype."""
    x, y = as_tensor_variable(a), as_tensor_variable(b)
    dtype = result_dtype([x, y])
    return make_apply(Dot, [cast_to(x, dtype), cast_to(y, dtype)]).out


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
