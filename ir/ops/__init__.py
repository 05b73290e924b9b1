"""Every op of the `tx` and `kernel` dialects; importing this registers them."""

from . import (
    binary,
    builtin,
    elementwise,
    elementwise_base,
    grad,
    indexing,
    kernel,
    linalg,
    nnet,
    random,
    reduce,
    select_cast,
    shape,
    shape_spec,
    state,
    views,
)

__all__ = [
    "binary",
    "builtin",
    "elementwise",
    "elementwise_base",
    "grad",
    "indexing",
    "kernel",
    "linalg",
    "nnet",
    "random",
    "reduce",
    "select_cast",
    "shape",
    "shape_spec",
    "state",
    "views",
]
