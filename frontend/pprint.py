"""Theano's `pp` / `pprint`: a builder graph as one line of infix math.

    >>> pp(T.tanh(x * 2 + b))
    'tanh(((x * 2.0) + b))'

Binary operators and comparisons print infix, fully parenthesised; other ops
print as calls by their builder name with their attributes as keywords;
named variables print by name, constants by value. Meant for reading, not
for evaluating back.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir.attributes import format_attribute
from ..ir.errors import TcTypeError
from .graph import Apply, Constant, Variable, constant_text

# The IR names of the ops that print as infix operators.
_INFIX = {
    "tx.add": "+",
    "tx.sub": "-",
    "tx.mul": "*",
    "tx.div": "/",
    "tx.floordiv": "//",
    "tx.mod": "%",
    "tx.pow": "**",
    "tx.and": "&",
    "tx.or": "|",
    "tx.xor": "^",
}
_PREFIX = {"tx.neg": "-", "tx.invert": "~"}


def pprint(obj: Variable | Sequence[Variable]) -> str:
    """`obj` (a Variable or a list of them) as infix text; shared subgraphs are repeated."""
    if isinstance(obj, (list, tuple)):
        return "\n".join(pprint(item) for item in obj)
    if not isinstance(obj, Variable):
        raise TcTypeError(f"pp takes a symbolic Variable or a list of them, found {obj!r}")
    memo: dict[Variable, str] = {}
    # Children before parents, without recursion, so deep graphs print too.
    stack: list[tuple[Variable, bool]] = [(obj, False)]
    while stack:
        variable, ready = stack.pop()
        if variable in memo:
            continue
        apply = variable.owner
        if apply is None or (variable.name is not None and variable is not obj):
            memo[variable] = _leaf(variable)
        elif ready:
            memo[variable] = _apply_text(apply, variable, [memo[i] for i in apply.inputs])
        else:
            stack.append((variable, True))
            stack.extend((i, False) for i in apply.inputs if i not in memo)
    return memo[obj]


def _leaf(variable: Variable) -> str:
    if isinstance(variable, Constant) and variable.name is None:
        return constant_text(variable.data)
    if variable.name is not None:
        return variable.name
    return f"<{variable.type}>"


def _apply_text(apply: Apply, variable: Variable, inputs: list[str]) -> str:
    name = apply.op_class.name
    if name in _INFIX and len(inputs) == 2:
        return f"({inputs[0]} {_INFIX[name]} {inputs[1]})"
    predicate = getattr(apply.op_class, "predicate", None)
    if predicate is not None and len(inputs) == 2:
        return f"({inputs[0]} {predicate} {inputs[1]})"
    if name in _PREFIX:
        return f"{_PREFIX[name]}{inputs[0]}"
    if name == "tx.cast":
        return f"cast({inputs[0]}, {variable.dtype})"
    if name == "tx.grad":
        return f"grad({inputs[0]}, {inputs[1 + variable.index]})"
    label = apply.op_class.frontend_name or name.removeprefix("tx.")
    if name == "tx.reduce":
        label = str(apply.attributes.get("kind"))
    keywords = [
        f"{key}={format_attribute(value)}"
        for key, value in sorted(apply.attributes.items())
        if not (name == "tx.reduce" and key == "kind") and not (name == "tx.reduce" and value is False)
    ]
    text = f"{label}({', '.join([*inputs, *keywords])})"
    return text if len(apply.outputs) == 1 else f"{text}[{variable.index}]"


pp = pprint

__all__ = ["pp", "pprint"]
