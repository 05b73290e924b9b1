"""The shape plan compiled to one straight-line Python function for the call path.

The runtime evaluates the plan on every call, so it must cost microseconds,
not the tree walks of `check`: each distinct term becomes one local variable,
computed once, each rule one `if` that returns None when it breaks (then the
caller runs `check` for the full message). Rarer requirements call their
general test, which raises with its message itself.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Sequence
from typing import Any

from .shape_checks import Bound, Constraint, Requirement, check_requirement
from .shape_terms import EXPRESSIONS, ArgDim, ArgValue, Data, Term

# What a plan's `evaluate` gives: the result shapes and the store shapes.
Evaluated = tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]
Evaluate = Callable[[Sequence[tuple[int, ...]], Data], Evaluated | None]
# Expressions written as Python operators; the others call EXPRESSIONS.
_BINARY = {"add": "+", "sub": "-", "mul": "*"}


class _Emitter:
    """Lines of the function body, and the local variable that holds each term."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[Term, str] = {}

    def term(self, term: Term | None) -> str:
        if term is None or isinstance(term, int):
            return repr(term)
        if term in self.names:
            return self.names[term]
        if isinstance(term, ArgDim):
            expr = f"shapes[{term.arg}][{term.axis}]"
        elif isinstance(term, ArgValue):
            entry = "" if term.index is None else f"[{term.index}]"
            expr = f"int(data[{term.arg}]{entry})"
        elif term.kind in _BINARY:
            left, right = (self.term(a) for a in term.args)
            expr = f"{left} {_BINARY[term.kind]} {right}"
        else:
            expr = f"E[{term.kind!r}]({', '.join(self.term(a) for a in term.args)})"
        self.names[term] = f"t{len(self.names)}"
        self.lines.append(f"    {self.names[term]} = {expr}")
        return self.names[term]

    def shapes(self, shapes: Sequence[tuple[Term, ...]]) -> str:
        return "(" + "".join("(" + "".join(f"{self.term(t)}, " for t in s) + "), " for s in shapes) + ")"


def plan_source(
    bounds: Sequence[Bound],
    constraints: Sequence[Constraint],
    requirements: Sequence[Requirement],
    result_shapes: Sequence[tuple[Term, ...]],
    store_shapes: Sequence[tuple[Term, ...]],
) -> str:
    """The text of `def evaluate(shapes, data)`; it reads `E` (EXPRESSIONS) and `R` (one
    callable per requirement) from its globals."""
    out = _Emitter()
    for b in bounds:
        out.lines.append(f"    if {out.term(b.term)} < {b.minimum}: return None")
    for c in constraints:
        left, right = out.term(c.left), out.term(c.right)
        out.lines.append(f"    if {left} != {right}: return None")
    for index, r in enumerate(requirements):
        if r.kind == "index":
            at, size = out.term(r.terms[0]), out.term(r.terms[1])  # type: ignore[arg-type]
            out.lines.append(f"    if not -{size} <= {at} < {size}: return None")
        elif r.kind == "step":
            out.lines.append(f"    if {out.term(r.terms[0])} == 0: return None")  # type: ignore[arg-type]
        else:  # rarer rules: the general code (which raises with its message)
            out.lines.append(f"    R[{index}](shapes, data)")
    results, stores = out.shapes(result_shapes), out.shapes(store_shapes)
    out.lines.append(f"    return {results}, {stores}")
    return "def evaluate(shapes, data):\n" + "\n".join(out.lines) + "\n"


def compile_plan(
    bounds: Sequence[Bound],
    constraints: Sequence[Constraint],
    requirements: Sequence[Requirement],
    result_shapes: Sequence[tuple[Term, ...]],
    store_shapes: Sequence[tuple[Term, ...]],
    code: types.CodeType | None = None,
) -> Evaluate:
    """`evaluate(shapes, data)`: (result shapes, store shapes), or None when a check fails.
    `code`: the function's bytecode, compiled before (`evaluate.__code__`), not its source."""
    scope: dict[str, Any] = {
        "E": EXPRESSIONS,
        "R": [functools.partial(check_requirement, r) for r in requirements],
    }
    if code is not None:
        return types.FunctionType(code, scope, "evaluate")  # type: ignore[return-value]
    source = plan_source(bounds, constraints, requirements, result_shapes, store_shapes)
    exec(compile(source, "<shape plan>", "exec"), scope)  # noqa: S102  (our own generated code)
    evaluate: Evaluate = scope["evaluate"]
    return evaluate
