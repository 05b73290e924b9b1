"""Parse the textual IR (see grammar.lark) back into a Module.

Every error is a TcParseError with `file:line:col`, hostile input included:
bytes that are not UTF-8, numbers that do not fit their type, nesting too
deep to walk. Each op remembers where it stood in the text (a TextPosition),
so the verifier's errors point at the line too. The result is verified.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import lark
import numpy as np

from . import ops as _ops  # noqa: F401  (registers every op)
from .attributes import Attribute, DenseAttr, SymbolRef
from .core import (
    OP_REGISTRY,
    Block,
    Function,
    Global,
    Location,
    Module,
    Operation,
    Region,
    TextPosition,
    Value,
)
from .errors import TcError, TcParseError
from .parse_literals import MAX_NESTING, parse_dense, parse_type
from .types import TensorType
from .verifier import verify_module

# How an error names what the parser wanted, for terminals that are not spelled literally.
_TERMINAL_WORDS = {
    "TYPE": "a type (tensor<...>)",
    "DENSE": "a dense literal (dense<...>)",
    "VALUE": "a value (%name)",
    "SYMBOL": "a symbol (@name)",
    "BLOCK_LABEL": "a block label (^bb0)",
    "OPNAME": "an op name",
    "FLOAT": "a number",
    "INT": "an integer",
    "STRING": "a string",
    "$END": "end of input",
    "<END-OF-FILE>": "end of input",
}


@lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    grammar = resources.files(__package__).joinpath("grammar.lark").read_text()
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True, cache=True)


def read_module(text: str | bytes, filename: str = "<string>", verify: bool = True) -> Module:
    """The module in `text` (bytes are decoded as UTF-8), verified unless `verify` is false."""
    if isinstance(text, bytes):
        text = decode_source(text, filename)
    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedInput as err:
        line, column = _error_position(err, text)
        raise TcParseError(f"{filename}:{line}:{column}: {_describe_unexpected(err)}") from None
    root = tree.children[0]
    assert isinstance(root, lark.Tree)
    module = _ModuleReader(filename).read(root)
    if verify:
        verify_module(module)
    return module


def decode_source(data: bytes, filename: str) -> str:
    """`data` as UTF-8 text; a byte that is not UTF-8 is a TcParseError at its line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")) + 1
        bad = data[err.start : err.end]
        raise TcParseError(
            f"{filename}:{line}:{column}: the file is not UTF-8 text (byte 0x{bad[0]:02x} at offset "
            f"{err.start}: {err.reason})"
        ) from None


def _error_position(err: lark.exceptions.UnexpectedInput, text: str) -> tuple[int, int]:
    line, column = getattr(err, "line", None), getattr(err, "column", None)
    if isinstance(line, int) and isinstance(column, int) and line > 0 and column > 0:
        return line, column
    lines = text.split("\n")  # as the parser counts lines
    return len(lines), len(lines[-1]) + 1


def _describe_unexpected(err: lark.exceptions.UnexpectedInput) -> str:
    if isinstance(err, lark.exceptions.UnexpectedToken):
        expected = _expected_words(set(err.expected))
        if err.token.type == "$END":
            return f"expected {expected}, found end of input"
        return f"expected {expected}, found {_show(str(err.token))}"
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        return f"unexpected character {_show(err.char)}"
    return "unexpected end of input"


def _show(text: str) -> str:
    """A token or character for a message: quoted, with anything invisible escaped."""
    if len(text) > 40:
        text = text[:37] + "..."
    return f"'{text}'" if text.isprintable() else ascii(text)


def _expected_words(names: set[str]) -> str:
    words = sorted({_terminal_word(name) for name in names})
    if not words:
        return "nothing more"
    if len(words) == 1:
        return words[0]
    if len(words) > 6:
        words = [*words[:5], "..."]
    return f"one of {', '.join(words)}"


def _terminal_word(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    try:
        pattern = _lark().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"'{pattern.value}'" if pattern.type == "str" else name.lower()


class _ModuleReader:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.symbols: dict[str, Any] = {}  # module-level name -> the token that defined it

    def error(self, node: Any, message: str) -> TcParseError:
        line, col = self.position(node)
        return TcParseError(f"{self.filename}:{line}:{col}: {message}")

    def position(self, node: Any) -> tuple[Any, Any]:
        meta = getattr(node, "meta", node)
        line = getattr(node, "line", None) or getattr(meta, "line", None) or "?"
        col = getattr(node, "column", None) or getattr(meta, "column", None) or "?"
        return line, col

    def here(self, node: Any) -> TextPosition | None:
        line, col = self.position(node)
        return TextPosition(self.filename, line, col) if isinstance(line, int) else None

    def type(self, token: Any) -> TensorType:
        """`parse_type` with the error placed at the token."""
        try:
            return parse_type(str(token))
        except TcParseError as err:
            raise self.error(token, str(err)) from None

    def dense(self, token: Any, type: TensorType) -> np.ndarray:
        try:
            return parse_dense(str(token), type)
        except TcParseError as err:
            raise self.error(token, str(err)) from None

    def define_symbol(self, token: Any) -> str:
        name = str(token)[1:]
        first = self.symbols.get(name)
        if first is not None:
            line, col = self.position(first)
            raise self.error(
                token, f"symbol @{name} is defined twice (first at {self.filename}:{line}:{col})"
            )
        self.symbols[name] = token
        return name

    def read(self, tree: lark.Tree[Any]) -> Module:
        module = Module()
        for child in tree.children:
            if child.data == "global_def":
                symbol, type_token, dense = child.children
                name = self.define_symbol(symbol)
                gtype = self.type(type_token)
                initial = self.dense(dense, gtype) if dense is not None else None
                module.globals.append(Global(name, gtype, initial))
            else:
                module.functions.append(self.read_function(child))
        return module

    def read_function(self, tree: lark.Tree[Any]) -> Function:
        symbol, *rest = tree.children
        name = self.define_symbol(symbol)
        loc_tree = rest.pop() if rest and isinstance(rest[-1], lark.Tree) and rest[-1].data == "loc" else None
        if rest and rest[-1] is None:
            rest.pop()  # the optional loc placeholder
        args = [c for c in rest if isinstance(c, lark.Tree) and c.data == "arg"]
        ops = [c for c in rest if isinstance(c, lark.Tree) and c.data == "op"]
        results = next((c for c in rest if isinstance(c, lark.Tree) and c.data == "result_types"), None)
        scope: dict[str, Value] = {}
        body = self.make_block(args, scope)
        for op_tree in ops:
            body.append(self.read_op(op_tree, scope, 0))
        function = Function(name, body, self.read_loc(loc_tree) or self.here(symbol))
        if results is not None:
            declared = [self.type(t) for t in results.children]
            term = body.terminator
            found = [v.type for v in term.operands] if term is not None else []
            if declared != found:
                raise self.error(
                    tree.meta,
                    f"@{function.name} declares results "
                    f"{', '.join(map(str, declared))} but returns {', '.join(map(str, found)) or 'nothing'}",
                )
        return function

    def make_block(self, args: list[lark.Tree[Any]], scope: dict[str, Value]) -> Block:
        names = [str(a.children[0])[1:] for a in args]
        block = Block([self.type(a.children[1]) for a in args], [None if n.isdigit() else n for n in names])
        for name, value, arg in zip(names, block.args, args, strict=True):
            self.bind(scope, name, value, arg.children[0])
        return block

    def bind(self, scope: dict[str, Value], name: str, value: Value, token: Any) -> None:
        if name in scope:
            raise self.error(token, f"value %{name} is defined twice")
        scope[name] = value

    def read_op(self, tree: lark.Tree[Any], scope: dict[str, Value], depth: int) -> Operation:
        results, opname, dense, symbol, operands, attr_dict, signature, regions, loc_tree = tree.children
        name = str(opname)
        op_class = OP_REGISTRY.get(name)
        if op_class is None:
            raise self.error(opname, f"unknown op '{name}'")
        operand_values = []
        for token in operands.children if operands is not None else []:
            value = scope.get(str(token)[1:])
            if value is None:
                raise self.error(token, f"use of undefined value {token}")
            operand_values.append(value)
        attributes: dict[str, Attribute] = {}
        if attr_dict is not None:
            for entry in attr_dict.children:
                if entry is not None:
                    attributes[str(entry.children[0])] = self.read_attr(entry.children[1])
        result_tokens = results.children if results is not None else []
        operand_types, result_types = self.read_signature(signature, operand_values, len(result_tokens))
        if len(operand_types) != len(operand_values):
            raise self.error(
                opname,
                f"'{name}' has {len(operand_values)} operand(s) but its "
                f"signature gives {len(operand_types)} type(s)",
            )
        if symbol is not None:
            if op_class.inline_symbol is None:
                raise self.error(opname, f"'{name}' takes no symbol")
            attributes[op_class.inline_symbol] = SymbolRef(str(symbol.children[0])[1:])
        if dense is not None:
            if len(result_types) != 1:
                raise self.error(dense, f"'{name}' with an inline dense value needs one result type")
            attributes["value"] = DenseAttr(self.dense(dense, result_types[0]))
        for index, (value, declared) in enumerate(zip(operand_values, operand_types, strict=False)):
            if value.type != declared:
                raise self.error(
                    opname,
                    f"'{name}' operand #{index} has type {value.type}, but the signature says {declared}",
                )
        region_objects = []
        if regions is not None:
            if depth >= MAX_NESTING:
                raise self.error(opname, f"regions nested deeper than {MAX_NESTING} levels")
            for region_tree in regions.children:
                blocks = []
                for block_tree in region_tree.children:
                    label, *rest = block_tree.children
                    args = [c for c in rest if isinstance(c, lark.Tree) and c.data == "arg"]
                    inner_scope: dict[str, Value] = {}  # kernel bodies are isolated from above
                    block = self.make_block(args, inner_scope)
                    for op_tree in (c for c in rest if isinstance(c, lark.Tree) and c.data == "op"):
                        block.append(self.read_op(op_tree, inner_scope, depth + 1))
                    blocks.append(block)
                    scope.update({k: v for k, v in inner_scope.items() if k not in scope})
                region_objects.append(Region(blocks))
        if len(result_tokens) != len(result_types):
            raise self.error(
                opname,
                f"'{name}' defines {len(result_tokens)} value(s) but its "
                f"signature gives {len(result_types)} result type(s)",
            )
        location = self.read_loc(loc_tree) or self.here(opname)
        try:
            op = op_class(operand_values, result_types, attributes, region_objects, location)
        except TcError as err:
            raise self.error(opname, str(err)) from None
        for token, result in zip(result_tokens, op.results, strict=True):
            hint = str(token)[1:]
            result.name = None if hint.isdigit() else hint
            self.bind(scope, hint, result, token)
        return op

    def read_signature(
        self, signature: Any, operands: list[Value], num_results: int
    ) -> tuple[list[TensorType], list[TensorType]]:
        if signature is None:
            return [], []
        if signature.data == "no_operand_signature":
            return [], [self.type(t) for t in signature.children[0].children]
        type_list, result_types = signature.children
        first = [self.type(t) for t in type_list.children]
        if result_types is not None:
            return first, [self.type(t) for t in result_types.children]
        if num_results == 0:  # `return %a, %b : A, B`
            return first, []
        # `%r = op %a, %b : T`: one result, every operand of the same type.
        return [first[0]] * len(operands), first

    def read_attr(self, tree: Any, depth: int = 0) -> Attribute:
        kind = tree.data
        children = tree.children
        if kind == "int_attr":
            return self.integer(children[0])
        if kind == "float_attr":
            return float(children[0])
        if kind == "true_attr":
            return True
        if kind == "false_attr":
            return False
        if kind == "string_attr":
            return str(children[0])[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        if kind == "dense_attr":
            return DenseAttr(self.dense(children[0], self.type(children[1])))
        if kind == "type_attr":
            return self.type(children[0])
        if kind == "symbol_attr":
            return SymbolRef(str(children[0])[1:])
        if depth >= MAX_NESTING:
            raise self.error(tree.meta, f"attribute lists nested deeper than {MAX_NESTING} levels")
        return tuple(self.read_attr(c, depth + 1) for c in children if c is not None)

    def read_loc(self, tree: Any) -> Location | None:
        if tree is None:
            return None
        file, line, col = tree.children
        return Location(str(file)[1:-1], self.integer(line), self.integer(col))

    def integer(self, token: Any) -> int:
        try:
            return int(token)
        except ValueError as err:  # more digits than Python converts
            raise self.error(token, f"integer too long ({err})") from None
