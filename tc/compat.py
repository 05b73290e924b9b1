"""`Variable.eval`, which needs the compiler.

    (x * 2).eval({x: np.ones(3)})         # compiles once per set of inputs, then reuses it

`Variable.eval` lives on the builder's Variable, which may not import the
compiler (docs/design.md's layers); it reaches `evaluate` below through
`METHOD_BUILDERS`, filled when `tc` is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .compile import function
from .frontend.graph import METHOD_BUILDERS, Variable
from .ir.errors import TcTypeError


def evaluate(variable: Variable, inputs_to_values: Mapping[Variable, Any] | None = None) -> np.ndarray:
    """The value of `variable` given values for its inputs (Theano's `Variable.eval`)."""
    values = dict(inputs_to_values or {})
    for key in values:
        if not isinstance(key, Variable):
            raise TcTypeError(f"eval: the keys of inputs_to_values must be Variables, found {key!r}")
    inputs = tuple(values)
    cache: dict[tuple[Variable, ...], Any] = variable.__dict__.setdefault("_eval_cache", {})
    if inputs not in cache:
        cache[inputs] = function(list(inputs), variable, on_unused_input="ignore")
    return cache[inputs](*values.values())


METHOD_BUILDERS["eval"] = evaluate


__all__ = ["evaluate"]
