"""Theano's `debugprint`: a graph as an indented tree, one line per node.

```
tx.add [id A] 'y'
 |tx.pow [id B]
 | |tx.sin [id C]
 | | |x [id D]
 | |tx.constant{2.0} [id E]
```

Works on builder Variables and on IR (a Function, a Module, or anything with
an `ir_function()` method, such as a compiled function), so the same picture
shows the graph before and after the passes. A node reached a second time
is printed once more with its id and no children, as Theano does. The walk
is iterative, so deep graphs print without hitting the recursion limit.
The bodies of fused kernels follow under "Inner graphs:", marked with `>`.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Iterable
from typing import IO, Any, NamedTuple

from ..ir.core import BlockArgument, Function, Module, Operation, OpResult, Value
from ..ir.errors import TcTypeError
from ..ir.ops.builtin import Constant as ConstantOp
from ..ir.ops.state import Store
from ..ir.types import TensorType
from .graph import Apply, Constant, Variable, constant_text


class _Node(NamedTuple):
    """What one line shows, for a builder Variable or an IR Value alike."""

    key: Hashable  # what the id is given to: an Apply / Operation, or the leaf itself
    text: str
    name: str | None
    type: TensorType
    children: list[Any]


def debugprint(obj: Any, file: IO[str] | str | None = None, print_type: bool = False) -> str:
    """Print `obj`'s graph in Theano's format and return the text.

    `obj` is a Variable, a list of Variables, an Apply, an ir Function or
    Module, or an object with `ir_function()`. `file=None` prints to stdout,
    `file="str"` only returns the text, any other value is written to.
    """
    lines: list[str] = []
    ids: dict[Hashable, str] = {}
    for header, roots, describe in _sources(obj):
        if header is not None:
            lines.append(header)
        for root in roots:
            _print_tree(root, describe, ids, print_type, lines, "")
    _print_inner_graphs(ids, print_type, lines)
    text = "".join(line + "\n" for line in lines)
    if file is None:
        sys.stdout.write(text)
    elif file != "str":
        file.write(text)  # type: ignore[union-attr]
    return text


def _sources(obj: Any) -> list[tuple[str | None, list[Any], Any]]:
    """(header line, roots, describe function) for each graph inside `obj`."""
    if hasattr(obj, "ir_function") and callable(obj.ir_function):
        obj = obj.ir_function()
    if isinstance(obj, Module):
        many = len(obj.functions) > 1
        return [
            source
            for f in obj.functions
            for source in _function_sources(f, f"func @{f.name}" if many else None)
        ]
    if isinstance(obj, Function):
        return _function_sources(obj, None)
    if isinstance(obj, Variable):
        return [(None, [obj], _builder_node)]
    if isinstance(obj, Apply):
        return [(None, list(obj.outputs), _builder_node)]
    if isinstance(obj, Value):
        return [(None, [obj], _ir_node)]
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        return [source for item in obj for source in _sources(item)]
    raise TcTypeError(f"debugprint takes Variables or IR, found {type(obj).__name__}")


def _function_sources(function: Function, header: str | None) -> list[tuple[str | None, list[Any], Any]]:
    """A function's outputs, then each update as Theano shows them: the new value of a shared
    variable is computed like an output."""
    sources: list[tuple[str | None, list[Any], Any]] = [(header, list(function.return_op.operands), _ir_node)]
    for op in function.body.ops:
        if isinstance(op, Store):
            sources.append((f"update @{op.symbol}:", list(op.operands), _ir_node))
    return sources


def _print_inner_graphs(ids: dict[Hashable, str], print_type: bool, lines: list[str]) -> None:
    """The bodies of ops with regions (fused kernels), after the outer graph.

    Printed as Theano printed scan's inner graphs: the op's header, then its
    body's results, each line marked with `>`.
    """
    printed: set[Operation] = set()
    while True:
        pending = [k for k in ids if isinstance(k, Operation) and k.regions and k not in printed]
        if not pending:
            return
        if not printed:
            lines += ["", "Inner graphs:"]
        for op in pending:
            printed.add(op)
            lines += ["", f"{op.name} [id {ids[op]}]"]
            for region in op.regions:
                for block in region.blocks:
                    for root in block.ops[-1].operands if block.ops else []:
                        _print_tree(root, _ir_node, ids, print_type, lines, " >")


def _print_tree(
    root: Any,
    describe: Any,
    ids: dict[Hashable, str],
    print_type: bool,
    lines: list[str],
    indent: str,
) -> None:
    # (value, prefix of its own line, prefix its children's lines extend)
    stack: list[tuple[Any, str, str]] = [(root, indent, indent)]
    while stack:
        value, prefix, prefix_child = stack.pop()
        node: _Node = describe(value)
        seen = node.key in ids
        if not seen:
            ids[node.key] = _char_id(len(ids))
        line = f"{prefix}{node.text} [id {ids[node.key]}]"
        if print_type:
            line += f" <{node.type}>"
        if node.name is not None:
            line += f" '{node.name}'"
        lines.append(line)
        if seen:
            continue
        last = len(node.children) - 1
        for index in range(last, -1, -1):
            extension = "  " if index == last else " |"
            stack.append((node.children[index], prefix_child + " |", prefix_child + extension))


def _builder_node(variable: Variable) -> _Node:
    apply = variable.owner
    if apply is not None:
        text = apply.op_class.name + (f".{variable.index}" if len(apply.outputs) > 1 else "")
        return _Node(apply, text, variable.name, variable.type, list(apply.inputs))
    if isinstance(variable, Constant):
        text = f"tx.constant{{{constant_text(variable.data)}}}"
        return _Node(variable, text, variable.name, variable.type, [])
    text = variable.name if variable.name is not None else f"<{variable.type}>"
    return _Node(variable, text, None, variable.type, [])


def _ir_node(value: Value) -> _Node:
    if isinstance(value, OpResult):
        op = value.op
        if isinstance(op, ConstantOp):
            text = f"tx.constant{{{constant_text(op.value)}}}"
            return _Node(op, text, value.name, value.type, [])
        text = op.name + (f".{value.index}" if len(op.results) > 1 else "")
        return _Node(op, text, value.name, value.type, list(op.operands))
    assert isinstance(value, BlockArgument)
    text = value.name if value.name is not None else f"<{value.type}>"
    return _Node(value, text, None, value.type, [])


def _char_id(number: int) -> str:
    """Theano's ids: A..Z, then BA, BB, ... (base 26 with A as the zero digit)."""
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text = chr(ord("A") + digit) + text
        if number == 0:
            return text
