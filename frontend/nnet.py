"""`T.nnet`: the neural-network helpers Theano kept in their own namespace."""

from __future__ import annotations

from .elemwise import gt, maximum, mul, sigmoid, softplus, switch
from .graph import TensorLike, Variable, as_tensor_variable


def relu(x: TensorLike, alpha: TensorLike = 0) -> Variable:
    """max(x, 0); with `alpha`, the leaky form `x if x > 0 else alpha * x` (Theano's)."""
    if isinstance(alpha, (int, float)) and alpha == 0:
        return maximum(x, 0)
    value = as_tensor_variable(x)
    return switch(gt(value, 0), value, mul(alpha, value))


__all__ = ["relu", "sigmoid", "softplus"]
