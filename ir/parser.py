"""Parse the textual IR (see grammar.lark) back into a Module.

Errors are TcParseError with `file:line:col`; the result is verified.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

import lark
import numpy as np

from . import ops as _ops  # noqa: F401  (registers every op)
from .attributes import Attribute, DenseAttr, SymbolRef
from .core import OP_REGISTRY, Block, Function, Global, Location, Module, Operation, Region, Value
from .dtypes import DType
from .errors import TcError, TcParseError
from .types import TensorType
from .verifier import verify_module

_TYPE_RE = re.compile(r"tensor<((?:(?:[0-9]+|\?)x)*)([a-z][a-z0-9]*)>")
_DENSE_TOKEN = re.compile(r"\[|\]|,|[^\s\[\],]+")


@lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    grammar = resources.files(__package__).joinpath("grammar.lark").read_text()
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True, cache=True)


def parse_module(text: str, filename: str = "<string>", verify: bool = True) -> Module:
    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedInput as err:
        found = _describe_unexpected(err)
        raise TcParseError(f"{filename}:{err.line}:{err.column}: {found}") from None
    root = tree.children[0]
    assert isinstance(root, lark.Tree)
    module = _ModuleReader(filename).read(root)
    if verify:
        verify_module(module)
    return module


def _describe_unexpected(err: lark.exceptions.UnexpectedInput) -> str:
    if isinstance(err, lark.exceptions.UnexpectedToken):
        expected = ", ".join(sorted(err.expected)[:6])
        return f"unexpected {err.token.type} {str(err.token)!r}; expected one of {expected}"
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        return f"unexpected character {err.char!r}"
    return "unexpected end of input"


def parse_type(text: str) -> TensorType:
    match = _TYPE_RE.fullmatch(text)
    if match is None:
        raise TcParseError(f"malformed type {text!r}")
    dims = [None if d == "?" else int(d) for d in match.group(1).split("x")[:-1]]
    return TensorType(DType.parse(match.group(2)), tuple(dims))


def parse_dense(text: str, type: TensorType) -> np.ndarray:
    """`dense<[1.0, 2.0]>` (or just its inside) as an array of `type`."""
    body = text[len("dense<") : -1] if text.startswith("dense<") else text
    tokens = _DENSE_TOKEN.findall(body)
    value, rest = _dense_value(tokens, 0)
    if rest != len(tokens):
        raise TcParseError(f"trailing text in dense literal {body!r}")
    kind = type.dtype
    if kind is DType.BOOL:
        array = np.array(value, dtype=bool)
    elif kind.is_integer:
        array = np.array(value, dtype=object).astype(kind.numpy)
    else:
        wide = np.array(value, dtype=np.float64)
        with np.errstate(over="ignore"):
            array = wide.astype(kind.numpy)
        if np.any(np.isinf(array) & np.isfinite(wide)):
            raise TcParseError(f"dense literal {body!r} is out of range for {kind}")
    if array.ndim == 0 and type.rank:
        array = np.full([d or 1 for d in type.shape], array, dtype=kind.numpy)
    if not type.accepts_shape(array.shape):
        raise TcParseError(f"dense literal of shape {array.shape} does not fit {type}")
    return array


def _dense_value(tokens: list[str], i: int) -> tuple[Any, int]:
    if i >= len(tokens):
        raise TcParseError("unterminated dense literal")
    token = tokens[i]
    if token == "[":
        items: list[Any] = []
        i += 1
        while tokens[i] != "]":
            item, i = _dense_value(tokens, i)
            items.append(item)
            if tokens[i] == ",":
                i += 1
        return items, i + 1
    if token in ("true", "false"):
        return token == "true", i + 1
    try:
        return (int(token) if re.fullmatch(r"-?\d+", token) else float(token)), i + 1
    except ValueError:
        raise TcParseError(f"bad number {token!r} in dense literal") from None


class _ModuleReader:
    def __init__(self, filename: str) -> None:
        self.filename = filename

    def error(self, node: Any, message: str) -> TcParseError:
        line = getattr(node, "line", None) or getattr(getattr(node, "meta", None), "line", "?")
        col = getattr(node, "column", None) or getattr(getattr(node, "meta", None), "column", "?")
        return TcParseError(f"{self.filename}:{line}:{col}: {message}")

    def read(self, tree: lark.Tree) -> Module:
        module = Module()
        for child in tree.children:
            if child.data == "global_def":
                symbol, type_token, dense = child.children
                gtype = parse_type(str(type_token))
                initial = parse_dense(str(dense), gtype) if dense is not None else None
                module.globals.append(Global(str(symbol)[1:], gtype, initial))
            else:
                module.functions.append(self.read_function(child))
        return module

    def read_function(self, tree: lark.Tree) -> Function:
        symbol, *rest = tree.children
        loc_tree = rest.pop() if rest and isinstance(rest[-1], lark.Tree) and rest[-1].data == "loc" else None
        if rest and rest[-1] is None:
            rest.pop()  # the optional loc placeholder
        args = [c for c in rest if isinstance(c, lark.Tree) and c.data == "arg"]
        ops = [c for c in rest if isinstance(c, lark.Tree) and c.data == "op"]
        results = next((c for c in rest if isinstance(c, lark.Tree) and c.data == "result_types"), None)
        scope: dict[str, Value] = {}
        body = self.make_block(args, scope)
        for op_tree in ops:
            body.append(self.read_op(op_tree, scope))
        function = Function(str(symbol)[1:], body, self.read_loc(loc_tree))
        if results is not None:
            declared = [parse_type(str(t)) for t in results.children]
            term = body.terminator
            found = [v.type for v in term.operands] if term is not None else []
            if declared != found:
                raise self.error(
                    tree.meta,
                    f"@{function.name} declares results "
                    f"{', '.join(map(str, declared))} but returns {', '.join(map(str, found))}",
                )
        return function

    def make_block(self, args: list[lark.Tree], scope: dict[str, Value]) -> Block:
        names = [str(a.children[0])[1:] for a in args]
        block = Block(
            [parse_type(str(a.children[1])) for a in args], [None if n.isdigit() else n for n in names]
        )
        for name, value, arg in zip(names, block.args, args, strict=True):
            self.bind(scope, name, value, arg.children[0])
        return block

    def bind(self, scope: dict[str, Value], name: str, value: Value, token: Any) -> None:
        if name in scope:
            raise self.error(token, f"value %{name} is defined twice")
        scope[name] = value

    def read_op(self, tree: lark.Tree, scope: dict[str, Value]) -> Operation:
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
            attributes["value"] = DenseAttr(parse_dense(str(dense), result_types[0]))
        for index, (value, declared) in enumerate(zip(operand_values, operand_types, strict=False)):
            if value.type != declared:
                raise self.error(
                    opname,
                    f"'{name}' operand #{index} has type {value.type}, but the signature says {declared}",
                )
        region_objects = []
        if regions is not None:
            for region_tree in regions.children:
                blocks = []
                for block_tree in region_tree.children:
                    label, *rest = block_tree.children
                    args = [c for c in rest if isinstance(c, lark.Tree) and c.data == "arg"]
                    inner_scope: dict[str, Value] = {}  # kernel bodies are isolated from above
                    block = self.make_block(args, inner_scope)
                    for op_tree in (c for c in rest if isinstance(c, lark.Tree) and c.data == "op"):
                        block.append(self.read_op(op_tree, inner_scope))
                    blocks.append(block)
                    scope.update({k: v for k, v in inner_scope.items() if k not in scope})
                region_objects.append(Region(blocks))
        if len(result_tokens) != len(result_types):
            raise self.error(
                opname,
                f"'{name}' defines {len(result_tokens)} value(s) but its "
                f"signature gives {len(result_types)} result type(s)",
            )
        try:
            op = op_class(operand_values, result_types, attributes, region_objects, self.read_loc(loc_tree))
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
            return [], [parse_type(str(t)) for t in signature.children[0].children]
        type_list, result_types = signature.children
        first = [parse_type(str(t)) for t in type_list.children]
        if result_types is not None:
            return first, [parse_type(str(t)) for t in result_types.children]
        if num_results == 0:  # `return %a, %b : A, B`
            return first, []
        # `%r = op %a, %b : T`: one result, every operand of the same type.
        return [first[0]] * len(operands), first

    def read_attr(self, tree: Any) -> Attribute:
        kind = tree.data
        children = tree.children
        if kind == "int_attr":
            return int(children[0])
        if kind == "float_attr":
            return float(children[0])
        if kind == "true_attr":
            return True
        if kind == "false_attr":
            return False
        if kind == "string_attr":
            return str(children[0])[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        if kind == "dense_attr":
            dtype = parse_type(str(children[1]))
            return DenseAttr(parse_dense(str(children[0]), dtype))
        if kind == "type_attr":
            return parse_type(str(children[0]))
        if kind == "symbol_attr":
            return SymbolRef(str(children[0])[1:])
        return tuple(self.read_attr(c) for c in children if c is not None)

    def read_loc(self, tree: Any) -> Location | None:
        if tree is None:
            return None
        file, line, col = tree.children
        return Location(str(file)[1:-1], int(line), int(col))
