"""`T.nnet`: the neural-network helpers Theano kept in their own namespace."""

from __future__ import annotations

from ..ir.errors import TcTypeError
from .elemwise import exp, gt, log, maximum, mul, neg, sigmoid, softplus, switch
from .graph import TensorLike, Variable, as_tensor_variable
from .reductions import max, sum  # noqa: A004


def relu(x: TensorLike, alpha: TensorLike = 0) -> Variable:
    """max(x, 0); with `alpha`, the leaky form `x if x > 0 else alpha * x` (Theano's)."""
    if isinstance(alpha, (int, float)) and alpha == 0:
        return maximum(x, 0)
    value = as_tensor_variable(x)
    return switch(gt(value, 0), value, mul(alpha, value))


def log_softmax(x: TensorLike, axis: int = -1) -> Variable:
    """x - logsumexp(x) along `axis`, shifted by the maximum so that no exp overflows."""
    value = as_tensor_variable(x)
    shifted = value - max(value, axis=axis, keepdims=True)
    return shifted - log(sum(exp(shifted), axis=axis, keepdims=True))


def softmax(x: TensorLike, axis: int = -1) -> Variable:
    """exp(x) / sum(exp(x)) along `axis` (rows of a matrix by default), computed stably."""
    value = as_tensor_variable(x)
    shifted = exp(value - max(value, axis=axis, keepdims=True))
    return shifted / sum(shifted, axis=axis, keepdims=True)


def binary_crossentropy(output: TensorLike, target: TensorLike) -> Variable:
    """-(t log o + (1 - t) log(1 - o)), elementwise (Theano's T.nnet.binary_crossentropy)."""
    o, t = as_tensor_variable(output), as_tensor_variable(target)
    return neg(t * log(o) + (1 - t) * log(1 - o))


def categorical_crossentropy(coding_dist: TensorLike, true_dist: TensorLike) -> Variable:
    """-sum(t * log(p)) over the last axis, for one-hot (or probability) targets.

    Integer class labels need indexing, which tc does not have yet.
    """
    p, t = as_tensor_variable(coding_dist), as_tensor_variable(true_dist)
    if not t.type.dtype.is_float:
        raise TcTypeError(
            "categorical_crossentropy: integer labels are not supported yet; pass one-hot targets"
        )
    return neg(sum(t * log(p), axis=-1))


__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "log_softmax",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
]
