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
    return _module_text(module).render(locations)


def print_module_texts(module: Module) -> tuple[str, str]:
    """The module's text without and with locations, from one walk (a compile needs both)."""
    text = _module_text(module)
    return text.render(False), text.render(True)


def print_function(function: Function, locations: bool = False) -> str:
    text = _Text()
    _function_lines(function, "", text)
    return text.render(locations)


def print_global(glob: Global) -> str:
    text = f"tx.global @{glob.name} : {glob.type}"
    if glob.initial is not None:
        text += f" = dense<{DenseAttr(glob.initial).literal()}>"
    return text


class _Text:
    """Lines of IR text, each with the location that ends it when printed with locations."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.locations: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.locations.append("")

    def locate(self, location: Location | None) -> None:
        """`location` ends the last line."""
        self.locations[-1] = _location(location)

    def render(self, locations: bool) -> str:
        if not locations:
            return "\n".join(self.lines) + "\n"
        return "\n".join([line + loc for line, loc in zip(self.lines, self.locations, strict=True)]) + "\n"


def _module_text(module: Module) -> _Text:
    text = _Text()
    text.add("module {")
    for glob in module.globals:
        text.add("  " + print_global(glob))
    for function in module.functions:
        _function_lines(function, "  ", text)
    text.add("}")
    return text


def _function_lines(function: Function, indent: str, text: _Text) -> None:
    namer = _Namer()
    args = ", ".join(f"{namer.define(a)}: {a.type}" for a in function.args)
    results = function.result_types if function.body.terminator else []
    sig = ""
    if len(results) == 1:
        sig = f" -> {results[0]}"
    elif results:
        sig = " -> (" + ", ".join(map(str, results)) + ")"
    text.add(f"{indent}func @{function.name}({args}){sig} {{")
    for op in function.body.ops:
        _op_lines(op, namer, indent + "  ", text)
    text.add(f"{indent}}}")
    text.locate(function.location)


def _op_lines(op: Operation, namer: _Namer, indent: str, text: _Text) -> None:
    operands = ", ".join(namer.use(v) for v in op.operands)
    line = op.name
    inline = op.attributes.get("value") if op.name == "tx.constant" else None
    if isinstance(inline, DenseAttr):
        line += f" dense<{inline.literal()}>"
    symbol = op.attributes.get(op.inline_symbol) if op.inline_symbol else None
    if isinstance(symbol, SymbolRef):
        line += f" @{symbol.name}" + ("," if operands else "")
    if operands:
        line += " " + operands
    hidden = {"value"} if inline is not None else set()
    if symbol is not None:
        hidden.add(op.inline_symbol)  # type: ignore[arg-type]
    attrs = {k: v for k, v in op.attributes.items() if k not in hidden}
    if attrs:
        line += " {" + ", ".join(f"{k} = {format_attribute(v)}" for k, v in sorted(attrs.items())) + "}"
    sig = _signature(op)
    if sig:
        line += " : " + sig
    if op.results:
        line = ", ".join(namer.define(r) for r in op.results) + " = " + line
    text.add(indent + line)
    if op.regions:
        text.lines[-1] += " ("
        for r_index, region in enumerate(op.regions):
            text.lines[-1] += "{"
            for block in region.blocks:
                _block_lines(block, namer, indent, text)
            text.add(indent + "}" + ("," if r_index < len(op.regions) - 1 else ""))
        text.lines[-1] += ")"
    text.locate(op.location)


def _block_lines(block: Block, namer: _Namer, indent: str, text: _Text) -> None:
    args = ", ".join(f"{namer.define(a)}: {a.type}" for a in block.args)
    text.add(f"{indent}^bb0({args}):")
    for op in block.ops:
        _op_lines(op, namer, indent + "  ", text)


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
