"""Every op of the `tx` and `kernel` dialects; importing this registers them."""

from . import builtin, elementwise, grad, indexing, kernel, linalg, nnet, random, reduce, shape, state, views

__all__ = [
    "builtin",
    "elementwise",
    "grad",
    "indexing",
    "kernel",
    "linalg",
    "nnet",
    "random",
    "reduce",
    "shape",
    "state",
    "views",
]
