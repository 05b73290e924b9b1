"""Shapes as expressions of the arguments' shapes, and the checks they imply.

The runtime needs, before calling native code, the shape of every result
(to allocate it) and the assurance that the arguments' unknown dimensions
agree wherever an op requires it (two `?` dimensions added together must be
equal). `ShapePlan` derives both from a function once, at compile time; the
call path then only reads integers.

The pieces, one layer each:

- `shape_terms.py`: the term language (ArgDim, ArgValue, Expr, EXPRESSIONS).
  Integer scalars computed from arguments, shapes and constants are tracked
  as terms, so `data[i * bs:(i + 1) * bs]` is sized before the call; a size
  that depends on anything else (float data, a reduction) is refused at
  compile time.
- `shape_state.py` and the rules it dispatches to by op class
  (`shape_rules.py`, `shape_value_rules.py`): what each op does to shapes.
- `shape_checks.py`: Constraint, Bound, Requirement and the errors users see.
- `shape_source.py`: the plan compiled to a straight-line Python function.

When a plan `uses_values`, the runtime hands `check` and `evaluate` the
arguments' arrays too.
"""

from __future__ import annotations

import functools
import marshal
import sys
from collections.abc import Sequence
from typing import Any

from . import shape_rules, shape_value_rules  # noqa: F401  (they register the shape rules)
from .core import Function
from .shape_checks import (
    Bound,
    Constraint,
    Requirement,
    check_bound,
    check_constraint,
    check_requirement,
)
from .shape_source import Evaluate, Evaluated, compile_plan
from .shape_state import ShapeState, rule_for
from .shape_terms import EXPRESSIONS, ArgDim, ArgValue, Data, Expr, Term, expr, mentions_values
from .types import TensorType

__all__ = [
    "EXPRESSIONS",
    "ArgDim",
    "ArgValue",
    "Bound",
    "Constraint",
    "Data",
    "Evaluated",
    "Expr",
    "Requirement",
    "ShapePlan",
    "Term",
    "expr",
]


class ShapePlan:
    """The result shapes and run-time shape checks of one function."""

    def __init__(self, function: Function, globals: Sequence[tuple[str, TensorType]] = ()) -> None:
        """`globals` are the shared buffers the function reads, as extra arguments after its own."""
        self.arg_names = [a.name or f"#{i}" for i, a in enumerate(function.args)]
        self.arg_names += [f"@{name}" for name, _ in globals]
        state = ShapeState(function, globals)
        for op in function.body.ops:
            rule_for(op)(op, state)
        self.constraints: list[Constraint] = state.constraints
        self.bounds: list[Bound] = state.bounds
        self.requirements: list[Requirement] = state.requirements
        self.store_shapes: list[tuple[Term, ...]] = state.store_shapes
        self.result_shapes = [state.shapes[v] for v in function.return_op.operands]
        every = [*self.result_shapes, *self.store_shapes, *(r.terms for r in self.requirements)]
        every += [(c.left, c.right) for c in self.constraints] + [(b.term,) for b in self.bounds]
        # Whether a call must hand over the arguments' values, not only their shapes.
        self.uses_values = any(mentions_values(t) for t in every)
        self.has_checks = bool(self.constraints or self.bounds or self.requirements)

    @functools.cached_property
    def evaluate(self) -> Evaluate:
        """`evaluate(shapes, data)`: (result shapes, store shapes), or None when a check fails
        (then `check` says which, with the full message).

        The plan compiled to one straight-line Python function (shape_source.py): the call
        path runs it on every call, so it must cost microseconds, not the tree walks of `check`.
        """
        code = self.__dict__.pop("_evaluate_code", None)  # from a pickled plan (__setstate__)
        return compile_plan(
            self.bounds, self.constraints, self.requirements, self.result_shapes, self.store_shapes, code
        )

    def __getstate__(self) -> dict[str, Any]:
        """The plan, with `evaluate`'s bytecode for this Python (a new process's first call
        then compiles no source: 0.4-0.6 ms of a train step's)."""
        state = {key: value for key, value in self.__dict__.items() if key != "evaluate"}
        state["_evaluate_code"] = (sys.implementation.cache_tag, marshal.dumps(self.evaluate.__code__))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        tag, code = state.pop("_evaluate_code", (None, b""))
        self.__dict__.update(state)
        if tag == sys.implementation.cache_tag:  # bytecode of another Python is not read
            try:
                self._evaluate_code = marshal.loads(code)
            except (ValueError, EOFError, TypeError):
                pass  # compiled from the terms when first needed

    def check(self, shapes: Sequence[tuple[int, ...]], data: Data = None) -> None:
        """Raise TcShapeError (TcIndexError, TcValueError) if the arguments break a rule.

        `data` are the arguments' and globals' arrays, needed when `uses_values`.
        """
        for b in self.bounds:
            check_bound(b, shapes, data)
        for c in self.constraints:
            check_constraint(c, self.arg_names, shapes, data)
        for r in self.requirements:
            check_requirement(r, shapes, data)
