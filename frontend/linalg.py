"""Matrix products in the builder: `T.dot(a, b)`, `a.dot(b)` and `a @ b`."""

from __future__ import annotations

from ..ir.ops.linalg import Dot
from .graph import TensorLike, Variable, as_tensor_variable, cast_to, make_apply
from .promotion import result_dtype


def dot(a: TensorLike, b: TensorLike) -> Variable:
    """numpy's dot for vectors and matrices; both operands are promoted to one dtype."""
    x, y = as_tensor_variable(a), as_tensor_variable(b)
    dtype = result_dtype([x, y])
    return make_apply(Dot, [cast_to(x, dtype), cast_to(y, dtype)]).out


matmul = dot  # the same for the ranks tc supports (up to 2)
