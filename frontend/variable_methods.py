"""Which builder each of Variable's operators and methods calls.

`graph.py` defines Variable, and the builders (`elemwise.py`, `linalg.py`, ...)
build Variables, so graph.py cannot import them without a cycle. Its operators
and methods look their builder up by name in `graph.METHOD_BUILDERS`; this
module, above both, fills that table. `tc.frontend` imports it, so the table is
full before any graph is built.
"""

from __future__ import annotations

from . import elemwise, indexing, linalg, reductions, shape_ops
from .graph import METHOD_BUILDERS

METHOD_BUILDERS.update(
    {
        # Python operators: `x + y`, `-x`, `x < y`, `~x`, ...
        "add": elemwise.add,
        "sub": elemwise.sub,
        "mul": elemwise.mul,
        "true_div": elemwise.true_div,
        "floor_div": elemwise.floor_div,
        "mod": elemwise.mod,
        "pow": elemwise.pow,
        "and_": elemwise.and_,
        "or_": elemwise.or_,
        "xor": elemwise.xor,
        "lt": elemwise.lt,
        "le": elemwise.le,
        "gt": elemwise.gt,
        "ge": elemwise.ge,
        "neg": elemwise.neg,
        "abs_": elemwise.abs_,
        "invert": elemwise.invert,
        # `x[key]`, `x.reshape(...)`, `x.flatten()`
        "getitem": indexing.getitem,
        "reshape": shape_ops.reshape,
        "flatten": shape_ops.flatten,
        # `x.dot(y)`, `x @ y`, `x.T`, `x.dimshuffle(...)`
        "matmul": linalg.matmul,
        "transpose": linalg.transpose,
        "dimshuffle": linalg.dimshuffle,
        # `x.sum()`, `x.mean(axis=0)`, ...
        "sum": reductions.sum,
        "prod": reductions.prod,
        "mean": reductions.mean,
        "max": reductions.max,
        "min": reductions.min,
        "argmax": reductions.argmax,
        "argmin": reductions.argmin,
        "var": reductions.var,
        "std": reductions.std,
    }
)
