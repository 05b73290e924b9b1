"""Every op of the `tx` and `kernel` dialects; importing this registers them."""

from . import builtin, elementwise, indexing, kernel, linalg, random, reduce, state, views

__all__ = ["builtin", "elementwise", "indexing", "kernel", "linalg", "random", "reduce", "state", "views"]
