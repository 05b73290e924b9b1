"""A text that pins down a symbolic graph, made without lowering it (`graph_text`).

T.grad's early check (gradient.py) remembers which scratch graphs expanded without error,
by a text of the graph. Lowering the graph and printing the module for that text took 1.5-2
ms of a warm MLP start, about as much as the check it spares; this text is made by one walk
of the graph. It names every variable by its place in a fixed walk, with its type and name;
every apply with its op, attributes, inputs and location; each constant by a digest of its
data; so two graphs with the same text lower to the same module. A graph with a region (a
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
    number: dict[int, int] = {}
    lines = ["graph"]

    def leaf(variable: Variable) -> str:
        head = f"{variable.type} {variable.name!r} @{variable.location}"
        if isinstance(variable, Constant):
            data = variable.data
            digest = hashlib.blake2b(data.tobytes(), digest_size=16).hexdigest()
            return f"constant {head} {data.dtype}{data.shape} {digest}"
        return f"{'shared' if isinstance(variable, SharedVariable) else 'root'} {head}"

    def visit(root: Variable) -> bool:
        stack: list[tuple[Variable, bool]] = [(root, False)]
        while stack:
            variable, expanded = stack.pop()
            if id(variable) in number:
                continue
            apply = variable.owner
            if apply is None:
                number[id(variable)] = len(number)
                lines.append(leaf(variable))
            elif expanded:
                if apply.regions is not None:
                    return False
                _number_outputs(apply, number, lines)
            else:
                stack.append((variable, True))
                stack.extend((v, False) for v in reversed(apply.inputs) if id(v) not in number)
        return True

    try:
        if not all(visit(variable) for variable in [*inputs, *outputs]):
            return None
    except TypeError:  # an attribute with no text form (format_attribute's error)
        return None
    lines.append("inputs " + " ".join(str(number[id(v)]) for v in inputs))
    lines.append("outputs " + " ".join(str(number[id(v)]) for v in outputs))
    return "\n".join(lines)


def _number_outputs(apply: Apply, number: dict[int, int], lines: list[str]) -> None:
    """Number the outputs of `apply` (its inputs are numbered) and describe it."""
    attributes = ", ".join(f"{k} = {format_attribute(v)}" for k, v in sorted(apply.attributes.items()))
    operands = " ".join(str(number[id(v)]) for v in apply.inputs)
    results = []
    for output in apply.outputs:
        number[id(output)] = len(number)
        results.append(f"{output.type} {output.name!r}")
    produced = ", ".join(results)
    lines.append(f"{apply.op_class.name} {{{attributes}}} ({operands}) -> {produced} @{apply.location}")
