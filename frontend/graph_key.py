"""A text that pins down a symbolic graph, made without lowering it.

T.grad's early check (gradient.py) remembers which scratch graphs expanded without error,
by a text of the graph (`graph_text`); tc.function finds what an earlier compile of the
same function made by the text of the function (`function_graph`: its graph, name,
updates and givens; tc/function_cache.py). Lowering the graph and printing the module for
such a text took 1.5-2 ms of a warm MLP start; this text is made by one walk of the graph.
It names every variable by its place in a fixed walk, with its type and name; every apply
with its op, attributes, inputs and location; each constant by a digest of its data; so two
graphs with the same text lower to the same module. A graph with a region (a
scan's step, built anew at each lowering) has no such text here: None.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ..ir.attributes import format_attribute
from .graph import Apply, Constant, Variable
from .shared import SharedVariable


def graph_text(inputs: Sequence[Variable], outputs: Sequence[Variable]) -> str | None:
    """The text of the function from `inputs` (in order) to `outputs`, or None."""
    walked = _walk([*inputs, *outputs])
    if walked is None:
        return None
    lines, number = walked.lines, walked.number
    lines.append("inputs " + " ".join(str(number[id(v)]) for v in inputs))
    lines.append("outputs " + " ".join(str(number[id(v)]) for v in outputs))
    return "\n".join(lines)


def function_graph(
    name: str,
    inputs: Sequence[Variable],
    outputs: Sequence[Variable],
    updates: Sequence[tuple[Variable, Variable]],
    givens: Sequence[tuple[Variable, Variable]],
    location: object,
) -> tuple[str, list[Variable]] | None:
    """The text of tc.function's function `name` (made at `location`), and its variables in
    the order the text numbers them; None where the graph has no text."""
    pairs = [*updates, *givens]
    walked = _walk([*inputs, *outputs, *(variable for pair in pairs for variable in pair)])
    if walked is None:
        return None
    lines, number = walked.lines, walked.number

    def numbers(variables: Sequence[Variable]) -> str:
        return " ".join(str(number[id(v)]) for v in variables)

    lines.append(f"function {name!r} @{location}")
    lines.append(f"inputs {numbers(inputs)}\noutputs {numbers(outputs)}")
    lines.append("updates " + " ".join(f"{numbers(pair)}" for pair in updates))
    lines.append("givens " + " ".join(f"{numbers(pair)}" for pair in givens))
    return "\n".join(lines), walked.variables


class _Walked:
    """A walk's lines, the number of each variable (by id) and the variables in that order."""

    __slots__ = ("lines", "number", "variables")

    def __init__(self) -> None:
        self.lines = ["graph"]
        self.number: dict[int, int] = {}
        self.variables: list[Variable] = []

    def add(self, variable: Variable) -> int:
        self.number[id(variable)] = len(self.variables)
        self.variables.append(variable)
        return len(self.variables) - 1


def _walk(roots: Sequence[Variable]) -> _Walked | None:
    """Number every variable `roots` depend on, each after what it is computed from, and
    describe it; None for a graph with a region or an attribute with no text."""
    walked = _Walked()
    number, lines = walked.number, walked.lines
    for root in roots:
        stack: list[tuple[Variable, bool]] = [(root, False)]
        while stack:
            variable, expanded = stack.pop()
            if id(variable) in number:
                continue
            apply = variable.owner
            if apply is None:
                walked.add(variable)
                lines.append(_leaf(variable))
            elif expanded:
                if apply.regions is not None:
                    return None
                try:
                    _number_outputs(apply, walked)
                except TypeError:  # an attribute with no text form (format_attribute's error)
                    return None
            else:
                stack.append((variable, True))
                stack.extend((v, False) for v in reversed(apply.inputs) if id(v) not in number)
    return walked


def _leaf(variable: Variable) -> str:
    head = f"{variable.type} {variable.name!r} @{variable.location}"
    if isinstance(variable, Constant):
        data = variable.data
        digest = hashlib.blake2b(data.tobytes(), digest_size=16).hexdigest()
        return f"constant {head} {data.dtype}{data.shape} {digest}"
    return f"{'shared' if isinstance(variable, SharedVariable) else 'root'} {head}"


def _number_outputs(apply: Apply, walked: _Walked) -> None:
    """Number the outputs of `apply` (its inputs are numbered) and describe it."""
    attributes = ", ".join(f"{k} = {format_attribute(v)}" for k, v in sorted(apply.attributes.items()))
    operands = " ".join(str(walked.number[id(v)]) for v in apply.inputs)
    results = []
    for output in apply.outputs:
        walked.add(output)
        # (an output's own location, which a store or a given names, is almost always the apply's)
        at = "" if output.location is apply.location else f" @{output.location}"
        results.append(f"{output.type} {output.name!r}{at}")
    produced = ", ".join(results)
    head = f"{apply.op_class.name} {{{attributes}}}"
    walked.lines.append(f"{head} ({operands}) -> {produced} @{apply.location}")
