"""`T.nnet`: the neural-network helpers Theano kept in their own namespace."""

from __future__ import annotations

from ..ir.errors import TcTypeError, TcValueError
from ..ir.ops.nnet import LogSoftmax, Softmax
from . import conv  # noqa: F401  (T.nnet.conv.conv2d, Theano's module path)
from .conv import conv2d
from .elemwise import abs_, exp, gt, log, lt, maximum, mul, neg, sigmoid, softplus, switch
from .graph import TensorLike, Variable, as_tensor_variable, cast_to, make_apply
from .promotion import FLOAT_UPGRADE
from .reductions import Axis, _axes, max, sum  # noqa: A004


def relu(x: TensorLike, alpha: TensorLike = 0) -> Variable:
    """max(x, 0); with `alpha`, the leaky form `x if x > 0 else alpha * x` (Theano's)."""
    if isinstance(alpha, (int, float)) and alpha == 0:
        return maximum(x, 0)
    value = as_tensor_variable(x)
    return switch(gt(value, 0), value, mul(alpha, value))


def _as_float(x: TensorLike) -> Variable:
    """Integers and bools become the narrowest float that holds them, as for exp."""
    value = as_tensor_variable(x)
    return cast_to(value, FLOAT_UPGRADE.get(value.type.dtype, value.type.dtype))


def _normalized(x: TensorLike, axis: int, name: str) -> tuple[Variable, int]:
    value = _as_float(x)
    if not isinstance(axis, int) or isinstance(axis, bool) or not -value.ndim <= axis < value.ndim:
        raise TcValueError(f"{name}: axis {axis!r} is out of range for a tensor of rank {value.ndim}")
    return value, axis % value.ndim


def _row_if_vector(x: TensorLike) -> Variable:
    """A vector as a (1, n) row: Theano 1.0's softmax and log_softmax give a row for a vector."""
    value = as_tensor_variable(x)
    return value.dimshuffle("x", 0) if value.ndim == 1 else value


def softmax(x: TensorLike, axis: int = -1) -> Variable:
    """exp(x) / sum(exp(x)) along `axis` (rows of a matrix by default), computed max-shifted.

    A vector gives a (1, n) row, as in Theano 1.0.
    """
    value, axis = _normalized(_row_if_vector(x), axis, "softmax")
    return make_apply(Softmax, [value], {"axis": axis}).out


def log_softmax(x: TensorLike, axis: int = -1) -> Variable:
    """x - logsumexp(x) along `axis`, shifted by the maximum so that no exp overflows.

    A vector gives a (1, n) row, as in Theano 1.0.
    """
    value, axis = _normalized(_row_if_vector(x), axis, "log_softmax")
    return make_apply(LogSoftmax, [value], {"axis": axis}).out


def logsumexp(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Variable:
    """log(sum(exp(x))) over `axis` (every axis by default), without overflow (PyTensor's).

    Shifted by the maximum m over the axes, which is replaced by 0 where it is
    not finite, so a slice of -inf gives -inf and one holding +inf gives +inf.
    """
    value = _as_float(x)
    axes = _axes(value, axis)
    peak = max(value, axis=axes, keepdims=True)
    shift = switch(lt(abs_(peak), float("inf")), peak, 0.0)
    total = log(sum(exp(value - shift), axis=axes, keepdims=keepdims))
    if not keepdims:
        shift = shift.dimshuffle(*[a for a in range(value.ndim) if a not in axes])
    return shift + total


def binary_crossentropy(output: TensorLike, target: TensorLike) -> Variable:
    """-(t log o + (1 - t) log(1 - o)), elementwise (Theano's T.nnet.binary_crossentropy)."""
    o, t = as_tensor_variable(output), as_tensor_variable(target)
    return neg(t * log(o) + (1 - t) * log(1 - o))


def categorical_crossentropy(coding_dist: TensorLike, true_dist: TensorLike) -> Variable:
    """-sum(t * log(p)) over the last axis, for one-hot (or probability) targets.

    With a vector of integer class labels, -log(p)[arange(n), t] (Theano's
    crossentropy_categorical_1hot); a label outside [0, classes) is a TcIndexError.
    The log comes first so that the stabilize pass turns log(softmax) into log_softmax.
    """
    p, t = as_tensor_variable(coding_dist), as_tensor_variable(true_dist)
    if not t.type.dtype.is_float:
        if not t.type.dtype.is_integer or t.type.rank != 1 or p.type.rank != 2:
            raise TcTypeError(
                "categorical_crossentropy: integer labels must be a vector (rank 1) beside a matrix "
                f"of probabilities (or pass one-hot targets), found {t.type} and {p.type}"
            )
        from .advanced_indexing import advanced_index
        from .constructors import arange

        return neg(advanced_index(log(p), (arange(t.shape[0]), t)))
    return neg(sum(t * log(p), axis=-1))


__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "conv2d",
    "log_softmax",
    "logsumexp",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
]
