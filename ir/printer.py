"""Print IR as MLIR-like text; `parser.parse_module` reads it back exactly."""

from __future__ import annotations

import re

from .attributes import DenseAttr, SymbolRef, format_attribute
from .core import Block, Function, Global, Location, Module, Operation, TextPosition, Value

_NAME_OK = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


class _Namer:
    """SSA names for one function: hints where unique and valid, numbers elsewhere."""

    def __init__(self) -> None:
        self.names: dict[Value, str] = {}
        self.taken: set[str] = set()
        self.counter = 0

    def define(self, value: Value) -> str:
        hint = value.name
        if hint and _NAME_OK.match(hint):
            name, suffix = hint, 0
            while name in self.taken:
                suffix += 1
                name = f"{hint}_{suffix}"
        else:
            while str(self.counter) in self.taken:
                self.counter += 1
            name = str(self.counter)
            self.counter += 1
        self.taken.add(name)
        self.names[value] = name
        return "%" + name

    def use(self, value: Value) -> str:
        name = self.names.get(value)
        return "%" + name if name is not None else "%<undefined>"


def print_module(module: Module, locations: bool = False) -> str:
    lines = ["module {"]
    lines += ["  " + print_global(g) for g in module.globals]
    for function in module.functions:
        lines += _function_lines(function, "  ", locations)
    lines.append("}")
    return "\n".join(lines) + "\n"


def print_function(function: Function, locations: bool = False) -> str:
    return "\n".join(_function_lines(function, "", locations)) + "\n"


def print_global(glob: Global) -> str:
    text = f"tx.global @{glob.name} : {glob.type}"
    if glob.initial is not None:
        text += f" = dense<{DenseAttr(glob.initial).literal()}>"
    return text


def _function_lines(function: Function, indent: str, locations: bool) -> list[str]:
    namer = _Namer()
    args = ", ".join(f"{namer.define(a)}: {a.type}" for a in function.args)
    results = function.result_types if function.body.terminator else []
    sig = ""
    if len(results) == 1:
        sig = f" -> {results[0]}"
    elif results:
        sig = " -> (" + ", ".join(map(str, results)) + ")"
    loc = _location(function.location) if locations else ""
    lines = [f"{indent}func @{function.name}({args}){sig} {{"]
    for op in function.body.ops:
        lines += _op_lines(op, namer, indent + "  ", locations)
    lines.append(f"{indent}}}{loc}")
    return lines


def _op_lines(op: Operation, namer: _Namer, indent: str, locations: bool) -> list[str]:
    operands = ", ".join(namer.use(v) for v in op.operands)
    text = op.name
    inline = op.attributes.get("value") if op.name == "tx.constant" else None
    if isinstance(inline, DenseAttr):
        text += f" dense<{inline.literal()}>"
    symbol = op.attributes.get(op.inline_symbol) if op.inline_symbol else None
    if isinstance(symbol, SymbolRef):
        text += f" @{symbol.name}" + ("," if operands else "")
    if operands:
        text += " " + operands
    hidden = {"value"} if inline is not None else set()
    if symbol is not None:
        hidden.add(op.inline_symbol)  # type: ignore[arg-type]
    attrs = {k: v for k, v in op.attributes.items() if k not in hidden}
    if attrs:
        text += " {" + ", ".join(f"{k} = {format_attribute(v)}" for k, v in sorted(attrs.items())) + "}"
    sig = _signature(op)
    if sig:
        text += " : " + sig
    if op.results:
        text = ", ".join(namer.define(r) for r in op.results) + " = " + text
    lines = [indent + text]
    if op.regions:
        lines[-1] += " ("
        for r_index, region in enumerate(op.regions):
            lines[-1] += "{"
            for block in region.blocks:
                lines += _block_lines(block, namer, indent, locations)
            lines.append(indent + "}" + ("," if r_index < len(op.regions) - 1 else ""))
        lines[-1] += ")"
    if locations:
        lines[-1] += _location(op.location)
    return lines


def _block_lines(block: Block, namer: _Namer, indent: str, locations: bool) -> list[str]:
    args = ", ".join(f"{namer.define(a)}: {a.type}" for a in block.args)
    lines = [f"{indent}^bb0({args}):"]
    for op in block.ops:
        lines += _op_lines(op, namer, indent + "  ", locations)
    return lines


def _signature(op: Operation) -> str:
    operand_types = [str(v.type) for v in op.operands]
    result_types = [str(r.type) for r in op.results]
    if not result_types:
        return ", ".join(operand_types)
    if len(result_types) == 1 and all(t == result_types[0] for t in operand_types):
        return result_types[0]
    results = result_types[0] if len(result_types) == 1 else "(" + ", ".join(result_types) + ")"
    return ", ".join(operand_types) + " -> " + results if operand_types else "() -> " + results


def _location(loc: Location | None) -> str:
    # A TextPosition points into the text this module was parsed from, not to where the op came from.
    if loc is None or isinstance(loc, TextPosition):
        return ""
    return f' loc("{loc.file}":{loc.line}:{loc.col})'
