"""Evaluate .tx expressions by calling the builder (`tc.tensor`), at the user's tokens.

Expressions evaluate to builder Variables or to Python values: numbers stay
Python numbers (weak, as in the Python API: `x_f32 * 2.5` stays f32, and
`2 + 3` is folded by Python exactly as it would be in a Python script),
`[1, 2]` is a Python list that the builder turns into a constant where it
needs one, strings and type names are arguments for the few functions that
take them. An error the builder raises is re-raised at the expression's
token, and the ops it creates carry the token's location.
"""

from __future__ import annotations

import difflib
import inspect
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import lark
import numpy as np

from ...ir.core import Location
from ...ir.dtypes import DType
from ...ir.errors import TcError
from .. import tensor as T
from ..graph import Constant, Variable
from ..shared import SharedVariable
from .builtins import CONSTANTS, DTYPES, FUNCTIONS, signature_text
from .errors import SourceFile, TxError, TxTypeError, error_class_for

Node = lark.Tree | lark.Token
MakeShared = Callable[[np.ndarray, str], SharedVariable]
MakeRandom = Callable[[int | None], Any]

# operator spelling -> (builder function, Python operator for two Python numbers)
_BINARY: dict[str, tuple[Callable[[Any, Any], Variable], Callable[[Any, Any], Any]]] = {
    "+": (T.add, operator.add),
    "-": (T.sub, operator.sub),
    "*": (T.mul, operator.mul),
    "/": (T.true_div, operator.truediv),
    "//": (T.floor_div, operator.floordiv),
    "%": (T.mod, operator.mod),
    "**": (T.pow, operator.pow),
    "<": (T.lt, operator.lt),
    "<=": (T.le, operator.le),
    ">": (T.gt, operator.gt),
    ">=": (T.ge, operator.ge),
    "==": (T.eq, operator.eq),
    "!=": (T.neq, operator.ne),
    "&": (T.and_, operator.and_),
    "|": (T.or_, operator.or_),
    "^": (T.xor, operator.xor),
}
_UNARY: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "-": (T.neg, operator.neg),
    "+": (lambda x: x, operator.pos),
    "~": (T.invert, lambda x: (not x) if isinstance(x, bool) else ~x),
}
_RANDOM_SIZE_ALIASES = {"shape": "size"}
NUMBER = (bool, int, float)
# Expressions nest by recursion here (`sin(sin(...))`, `-(-(...))`); past this depth a file is
# refused at its token rather than exhausting Python's stack. Left-associative chains
# (`x + x + ... + x`) do not nest: they are evaluated in a loop, however long.
MAX_NESTING = 100
# An integer power whose result would need more bits than this is refused, not computed
# (`10 ** 10 ** 10` would take Python minutes and no tensor can hold it).
_MAX_POWER_BITS = 4096
# numpy's refusals of arrays that cannot exist (a size beyond memory or beyond intp).
_NUMPY_TOO_LARGE = re.compile(
    r"Maximum allowed (size|dimension) exceeded|array is too big|Unable to allocate"
)
# The builder prefixes its messages with the Python line that built the graph; not ours.
_PYTHON_LOCATION = re.compile(r"^(?:\S+?:\d+:\d+: )+")


@dataclass
class Hooks:
    """What lowering needs from the layers above it: shared buffers and random streams."""

    make_shared: MakeShared
    make_random: MakeRandom


@dataclass
class Binding:
    kind: str  # "shared", "random", "function", "parameter", "let"
    value: Any
    token: lark.Token


@dataclass
class RandomDecl:
    seed: int | None
    streams: Any = None


class ExpressionLowering:
    """Names in scope, and the evaluation of expressions; `_Lowering` adds declarations."""

    def __init__(self, source: SourceFile, hooks: Hooks) -> None:
        self.source = source
        self.hooks = hooks
        self.globals: dict[str, Binding] = {}
        self.scope: dict[str, Binding] = {}
        self.stamped: set[Variable] = set()
        self.random_streams: dict[str, Any] = {}
        self.depth = 0  # of nested `expr` calls

    # -- errors and locations ------------------------------------------------------------

    def error(self, node: Node, message: str, kind: type[TxError] = TxError) -> TxError:
        line, column, width = self.position(node)
        return kind(self.source, line, column, message, width)

    def position(self, node: Node) -> tuple[int, int, int]:
        if isinstance(node, lark.Token):
            return node.line or 1, node.column or 1, len(node)
        meta = node.meta
        if getattr(meta, "empty", True):
            return 1, 1, 1
        width = meta.end_column - meta.column if meta.end_line == meta.line else 1
        return meta.line, meta.column, width

    def location(self, node: Node) -> Location:
        line, column, _ = self.position(node)
        return self.source.location(line, column)

    def call_builder(self, node: Node, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the builder; its errors are re-raised at `node`, its new ops located there.

        So are the builder's plain TypeErrors (an argument of a kind it does not take, such as
        `axis = 1.5`) and sizes too large to exist (numpy's refusals, integers beyond C's long).
        """
        try:
            result = function(*args, **kwargs)
        except TxError:
            raise  # already located in the .tx source (a scan's step function)
        except TcError as err:
            message = _PYTHON_LOCATION.sub("", str(err))
            raise self.error(node, message, error_class_for(err)) from err
        except TypeError as err:
            raise self.error(node, str(err), TxTypeError) from err
        except (OverflowError, MemoryError) as err:
            raise self.error(node, f"a size or value is too large: {err}") from err
        except ValueError as err:
            if not _NUMPY_TOO_LARGE.search(str(err)):
                raise
            raise self.error(node, f"a size or value is too large: {err}") from err
        self.stamp(result, self.location(node))
        return result

    def stamp(self, value: Any, location: Location) -> None:
        """Give the ops that built `value` (and no older ones) the .tx location."""
        stack = [value] if isinstance(value, Variable) else []
        while stack:
            variable = stack.pop()
            if variable in self.stamped:
                continue
            self.stamped.add(variable)
            apply = variable.owner
            if apply is None:
                if isinstance(variable, Constant) or isinstance(variable, SharedVariable):
                    variable.location = location
                continue
            apply.location = location
            for output in apply.outputs:
                output.location = location
                self.stamped.add(output)
            stack.extend(apply.inputs)

    def string(self, token: lark.Token) -> str:
        return re.sub(r"\\(.)", r"\1", str(token)[1:-1])

    def as_variable(self, node: Node, value: Any) -> Variable:
        if isinstance(value, Variable):
            return value
        if isinstance(value, (*NUMBER, list)):
            return self.call_builder(node, T.as_tensor_variable, value)
        raise self.error(node, f"expected a tensor, found {describe_value(value)}", TxTypeError)

    # -- expressions ---------------------------------------------------------------------

    def expr(self, node: Node) -> Any:
        if isinstance(node, lark.Token):  # the grammar keeps no bare tokens in expressions
            raise self.error(node, f"unexpected '{node}'")
        if self.depth >= MAX_NESTING:
            raise self.error(
                node, f"expression nested more than {MAX_NESTING} deep; split it into several lets"
            )
        self.depth += 1
        try:
            return getattr(self, f"expr_{node.data}")(node)
        finally:
            self.depth -= 1

    def expr_conditional(self, node: lark.Tree) -> Any:
        """`a if c else b`: tc.ifelse, lazy (only the branch `c` picks runs)."""
        from ..ifelse import ifelse

        then_node, _, cond_node, _, else_node = node.children
        cond = self.as_variable(cond_node, self.expr(cond_node))
        return self.call_builder(node, ifelse, cond, self.expr(then_node), self.expr(else_node))

    def expr_int(self, node: lark.Tree) -> int:
        try:
            return int(node.children[0])
        except ValueError as err:  # more digits than Python converts
            raise self.error(node, f"integer literal too long ({err})") from None

    def expr_float(self, node: lark.Tree) -> float:
        return float(node.children[0])

    def expr_true(self, node: lark.Tree) -> bool:
        return True

    def expr_false(self, node: lark.Tree) -> bool:
        return False

    def expr_string(self, node: lark.Tree) -> str:
        return self.string(node.children[0])

    def expr_list(self, node: lark.Tree) -> list[Any]:
        items = []
        for child in node.children:
            if child is None:
                continue
            value = self.expr(child)
            if not isinstance(value, (*NUMBER, list)):
                raise self.error(child, "a list literal holds numbers (or lists of numbers)", TxTypeError)
            items.append(value)
        return items

    def expr_name(self, node: lark.Tree) -> Any:
        token = node.children[0]
        name = str(token)
        if name in DTYPES:
            return DTYPES[name]
        binding = self.scope.get(name) or self.globals.get(name)
        if binding is None and name in CONSTANTS:
            return CONSTANTS[name]
        if binding is None:
            raise self.unknown(token, "name", [*self.scope, *self.globals, *CONSTANTS])
        if binding.kind == "random":
            raise self.error(
                token, f"'{name}' is a random stream; draw from it with {name}.uniform(shape = [...])"
            )
        if binding.kind == "function":
            raise self.error(token, f"'{name}' is a function; functions cannot be used as values")
        return binding.value

    def lookup(self, token: lark.Token) -> Binding:
        binding = self.scope.get(str(token)) or self.globals.get(str(token))
        if binding is None:
            raise self.unknown(token, "name", [*self.scope, *self.globals])
        return binding

    def unknown(self, token: lark.Token, what: str, candidates: Sequence[str]) -> TxError:
        close = difflib.get_close_matches(str(token), list(candidates), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return self.error(token, f"unknown {what} '{token}'{hint}")

    def expr_unary(self, node: lark.Tree) -> Any:
        op, operand_node = node.children
        operand = self.expr(operand_node)
        builder, python = _UNARY[str(op)]
        self.check_operand(operand_node, operand, str(op))
        if isinstance(operand, NUMBER):
            return python(operand)
        return self.call_builder(op, builder, operand)

    def expr_binary(self, node: lark.Tree) -> Any:
        """`a + b - c ...`: the left-nested chain in a loop, left to right, so that its length
        costs no stack."""
        chain: list[tuple[Node, lark.Token, Node]] = []
        while isinstance(node, lark.Tree) and node.data == "binary":
            left_node, op, right_node = node.children
            chain.append((left_node, op, right_node))
            node = left_node
        value = self.expr(node)
        for left_node, op, right_node in reversed(chain):
            value = self.binary(left_node, value, op, right_node, self.expr(right_node))
        return value

    def binary(self, left_node: Node, left: Any, op: lark.Token, right_node: Node, right: Any) -> Any:
        self.check_operand(left_node, left, str(op))
        self.check_operand(right_node, right, str(op))
        builder, python = _BINARY[str(op)]
        if isinstance(left, NUMBER) and isinstance(right, NUMBER):
            shown = f"{show_literal(left)} {op} {show_literal(right)}"
            if str(op) == "**" and _power_too_large(left, right):
                raise self.error(op, f"cannot compute {shown}: the result is too large for any tensor")
            try:
                return python(left, right)
            except (ArithmeticError, TypeError, ValueError) as err:
                raise self.error(op, f"cannot compute {shown}: {err}") from err
        return self.call_builder(op, builder, left, right)

    def expr_index(self, node: lark.Tree) -> Any:
        """`x[...]`: the builder's indexing, with Python's slices and integer arrays."""
        target_node, *subscripts = (child for child in node.children if child is not None)
        target = self.as_variable(target_node, self.expr(target_node))
        key = tuple(self.subscript(sub) for sub in subscripts)
        return self.call_builder(node, lambda t, k: t[k], target, key[0] if len(key) == 1 else key)

    def subscript(self, node: lark.Tree) -> Any:
        if node.data == "range":
            return slice(*(None if part is None else self.index_value(part) for part in node.children))
        return self.index_value(node.children[0])

    def index_value(self, node: Node) -> Any:
        value = self.expr(node)
        if not isinstance(value, (Variable, int, list)) or isinstance(value, bool):
            found = describe_value(value)
            raise self.error(node, f"an index is an integer or an integer tensor, found {found}", TxTypeError)
        return value

    def check_operand(self, node: Node, value: Any, op: str) -> None:
        if not isinstance(value, (Variable, *NUMBER, list)):
            raise self.error(
                node, f"'{op}' needs a tensor or a number, found {describe_value(value)}", TxTypeError
            )

    def expr_call(self, node: lark.Tree) -> Any:
        name, method, *arg_nodes = node.children
        if method is None and str(name) == "scan" and "scan" not in self.scope:
            return self.scan_call(node, arg_nodes)  # its first argument names a fn: loops.py
        positional: list[Any] = []
        keywords: dict[str, Any] = {}
        for arg in arg_nodes:
            if arg is None:
                continue
            if isinstance(arg, lark.Tree) and arg.data == "kwarg":
                key, value_node = arg.children
                if str(key) in keywords:
                    raise self.error(key, f"argument '{key}' is given twice")
                keywords[str(key)] = self.expr(value_node)
            elif keywords:
                raise self.error(arg, "a positional argument cannot follow a keyword argument")
            else:
                positional.append(self.expr(arg))
        if method is not None:
            return self.random_call(node, name, method, positional, keywords)
        function = FUNCTIONS.get(str(name))
        if function is None:
            binding = self.scope.get(str(name)) or self.globals.get(str(name))
            if binding is not None and binding.kind == "function":
                raise self.error(
                    name, f"'{name}' is a .tx function; calling one function from another is not supported"
                )
            raise self.unknown(name, "function", list(FUNCTIONS))
        positional = [v.numpy.name if isinstance(v, DType) else v for v in positional]
        keywords = {k: v.numpy.name if isinstance(v, DType) else v for k, v in keywords.items()}
        try:
            bound = inspect.signature(function).bind(*positional, **keywords)
        except TypeError as err:
            found = len(positional) + len(keywords)
            raise self.error(
                name,
                f"{signature_text(str(name))} cannot take these {count(found, 'argument')}: {err}",
                TxTypeError,
            ) from err
        return self.call_builder(name, function, *bound.args, **bound.kwargs)

    def scan_call(self, node: lark.Tree, arg_nodes: list[Any]) -> Any:
        raise self.error(node, "scan needs a .tx file's functions (see frontend/tx/loops.py)")

    def random_call(
        self,
        node: lark.Tree,
        name: lark.Token,
        method: lark.Token,
        positional: list[Any],
        keywords: dict[str, Any],
    ) -> Variable:
        binding = self.lookup(name)
        if binding.kind != "random":
            raise self.error(
                name, f"'{name}' is a {describe_kind(binding.kind)}; only random streams have methods"
            )
        decl: RandomDecl = binding.value
        if decl.streams is None:
            decl.streams = self.call_builder(name, self.hooks.make_random, decl.seed)
            self.random_streams[str(name)] = decl.streams
        draw = getattr(decl.streams, str(method), None)
        if str(method).startswith("_") or not callable(draw):
            raise self.error(method, f"random streams have no method '{method}'; try uniform or normal")
        keywords = {_RANDOM_SIZE_ALIASES.get(k, k): v for k, v in keywords.items()}
        keywords = {k: v.numpy.name if isinstance(v, DType) else v for k, v in keywords.items()}
        if "size" in keywords and isinstance(keywords["size"], list):
            keywords["size"] = tuple(keywords["size"])
        try:
            inspect.signature(draw).bind(*positional, **keywords)
        except TypeError as err:  # a wrong keyword for the stream's method
            raise self.error(method, f"{name}.{method}: {err}", TxTypeError) from err
        return self.call_builder(method, draw, *positional, **keywords)


def _power_too_large(base: Any, exponent: Any) -> bool:
    if isinstance(base, float) or isinstance(exponent, float) or exponent <= 0 or abs(base) <= 1:
        return False  # floats overflow to an error by themselves; these stay small
    return int(exponent) * abs(int(base)).bit_length() > _MAX_POWER_BITS


def describe_kind(kind: str) -> str:
    return {"shared": "shared variable", "random": "random stream", "let": "local (let)"}.get(kind, kind)


def describe_value(value: Any) -> str:
    if isinstance(value, DType):
        return f"the type {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return type(value).__name__


def show_literal(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    try:
        text = repr(value)
    except ValueError:  # an integer with more digits than Python prints
        return "a number too long to show"
    return text if len(text) <= 60 else text[:57] + "..."


def show_shape(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
