"""Lower a .tx syntax tree to builder Variables: one `TxFunction` per `fn`.

The checks a user needs to see at their own line happen here: names,
declared types and shapes, shared initial values, updates and givens.
Declared types and initial values are `declarations.py`'s, expressions are
`expressions.py`'s; everything about ops and promotion is the builder's
(`tc.tensor`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import lark
import numpy as np

from ...ir.core import Location
from ...ir.dtypes import DType
from ...ir.errors import TcValueError
from ...ir.types import TensorType
from .. import tensor as T
from ..graph import Variable
from ..shared import SharedVariable
from .builtins import DTYPES
from .declarations import TypedLowering
from .errors import SourceFile, TxError, TxErrors, TxShapeError, TxTypeError
from .expressions import (
    NUMBER,
    Binding,
    Hooks,
    Node,
    RandomDecl,
    count,
    describe_kind,
    show_shape,
)
from .loops import LoopLowering
from .parser import parse_tree

__all__ = ["Hooks", "Program", "TxFunction", "lower_source"]


@dataclass
class TxFunction:
    """One `fn`, lowered to the arguments of `tc.function`."""

    name: str
    inputs: list[Variable]
    outputs: list[Variable]
    single_output: bool
    updates: list[tuple[SharedVariable, Variable]]
    givens: list[tuple[Variable, Variable]]
    no_default_updates: bool
    location: Location


@dataclass
class Program:
    """A lowered .tx file: its shared variables by name and its functions."""

    source: SourceFile
    shared: dict[str, SharedVariable] = field(default_factory=dict)
    functions: list[TxFunction] = field(default_factory=list)
    random_streams: dict[str, Any] = field(default_factory=dict)


def lower_source(source: SourceFile, hooks: Hooks, functions: Collection[str] | None = None) -> Program:
    """Parse and lower a .tx file: its declarations and its functions, or only those of them
    named in `functions` (so one broken function does not stop running the others). The
    errors of every function lowered are reported together."""
    return _Lowering(source, hooks).lower(parse_tree(source), functions)


class _Lowering(TypedLowering, LoopLowering):
    def __init__(self, source: SourceFile, hooks: Hooks) -> None:
        super().__init__(source, hooks)
        self.program = Program(source)
        self.fn_items: dict[str, lark.Tree] = {}  # every fn, by name: scan's step functions
        self.scan_updates: list[tuple[SharedVariable, Variable]] = []

    # -- top level -----------------------------------------------------------------------

    def lower(self, tree: lark.Tree, functions: Collection[str] | None = None) -> Program:
        items = tree.children
        for item in items:
            self.declare(item.children[0], item)
        self.fn_items = {str(item.children[0]): item for item in items if item.data == "fn_def"}
        for item in items:
            if item.data == "shared_decl":
                self.shared_decl(item)
            elif item.data == "random_decl":
                self.random_decl(item)
        defined = [str(item.children[0]) for item in items if item.data == "fn_def"]
        missing = [name for name in functions or () if name not in defined]
        if missing:
            known = ", ".join(defined) or "none"
            raise TcValueError(f"'{self.source.name}' has no function {missing[0]!r} (functions: {known})")
        errors: list[TxError] = []
        for item in items:
            if item.data != "fn_def" or (functions is not None and str(item.children[0]) not in functions):
                continue
            try:
                self.program.functions.append(self.fn_def(item))
            except TxError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise TxErrors(errors)
        self.program.random_streams = self.random_streams
        return self.program

    def declare(self, token: lark.Token, item: lark.Tree) -> None:
        name = str(token)
        self.check_name(token)
        if name in self.globals:
            first = self.globals[name].token
            raise self.error(
                token, f"'{name}' is already defined at {self.source.name}:{first.line}:{first.column}"
            )
        kinds = {"shared_decl": "shared", "random_decl": "random", "fn_def": "function"}
        self.globals[name] = Binding(kinds[item.data], None, token)

    def check_name(self, token: lark.Token) -> None:
        if str(token) in DTYPES:
            raise self.error(token, f"'{token}' is a type name and cannot name a variable or function")

    def shared_decl(self, item: lark.Tree) -> None:
        token, type_node, init = item.children
        declared = self.type(type_node)
        value = self.initial_value(init, declared)
        variable = self.call_builder(token, self.hooks.make_shared, value, str(token))
        variable.location = self.location(token)
        self.stamped.add(variable)
        self.globals[str(token)].value = variable
        self.program.shared[str(token)] = variable

    def random_decl(self, item: lark.Tree) -> None:
        token, *kwargs = item.children
        seed: int | None = None
        for kwarg in [k for k in kwargs if k is not None]:
            key, value_node = kwarg.children
            if str(key) != "seed":
                raise self.error(
                    key, f"unknown argument '{key}' of random; random streams take seed = INTEGER"
                )
            value = self.expr(value_node)
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.error(value_node, "the seed of a random stream must be an integer", TxTypeError)
            seed = value
        self.globals[str(token)].value = RandomDecl(seed)

    # -- functions -----------------------------------------------------------------------

    def fn_def(self, item: lark.Tree) -> TxFunction:
        name_token, *rest = item.children
        body = rest[-1]
        self.scope = {}
        inputs: list[Variable] = []
        parameters: list[lark.Tree] = []
        results: lark.Tree | None = None
        givens: list[tuple[Variable, Variable]] = []
        no_default_updates = False
        for child in rest[:-1]:
            if child is None:
                continue
            if child.data == "param":
                parameters.append(child)
                inputs.append(self.parameter(child))
            elif child.data in ("single_result", "result_tuple"):
                results = child
            elif child.data == "givens":
                givens += self.givens(child)
            elif child.data == "no_default_updates":
                no_default_updates = True
        declared = self.result_types(results)
        self.scan_updates = []
        returned, updates, return_node = self.body(body)
        # A scan's random streams advance after the call, unless the function updates them itself.
        updates += [(s, v) for s, v in self.scan_updates if all(s is not u for u, _ in updates)]
        if declared is not None:
            if len(declared) != len(returned):
                where = return_node if return_node is not None else name_token
                raise self.error(
                    where,
                    f"'{name_token}' declares {count(len(declared), 'result')} but returns {len(returned)}",
                    TxTypeError,
                )
            outputs = [
                self.conform(node, value, want, "the result")
                for (node, value), want in zip(returned, declared, strict=True)
            ]
        else:
            outputs = [self.as_variable(node, value) for node, value in returned]
        single = results.data == "single_result" if results is not None else len(outputs) == 1
        function = TxFunction(
            str(name_token),
            inputs,
            outputs,
            single,
            updates,
            givens,
            no_default_updates,
            self.location(name_token),
        )
        self.check_unused(function, parameters)
        return function

    def parameter(self, node: lark.Tree) -> Variable:
        token, type_node = node.children
        self.bind(token, "parameter")
        declared = self.type(type_node)
        variable = T.tensor(declared.dtype, declared.shape, str(token))
        variable.location = self.location(token)
        self.stamped.add(variable)
        self.scope[str(token)].value = variable
        return variable

    def bind(self, token: lark.Token, kind: str) -> None:
        name = str(token)
        self.check_name(token)
        previous = self.scope.get(name) or self.globals.get(name)
        if previous is not None and previous.kind != "function":
            where = f"{self.source.name}:{previous.token.line}:{previous.token.column}"
            raise self.error(
                token, f"'{name}' is already defined (as a {describe_kind(previous.kind)} at {where})"
            )
        self.scope[name] = Binding(kind, None, token)

    def result_types(self, node: lark.Tree | None) -> list[TensorType] | None:
        if node is None:
            return None
        return [self.type(t) for t in node.children if isinstance(t, lark.Tree)]

    def givens(self, node: lark.Tree) -> list[tuple[Variable, Variable]]:
        pairs: list[tuple[Variable, Variable]] = []
        seen: set[str] = set()
        for given in node.children:
            token, expr = given.children
            target = self.lookup(token)
            if target.kind != "shared":
                raise self.error(
                    token,
                    f"given: '{token}' is a {describe_kind(target.kind)}; a given replaces a shared variable",
                    TxTypeError,
                )
            if str(token) in seen:
                raise self.error(token, f"given: '{token}' is given twice")
            seen.add(str(token))
            variable = target.value
            pairs.append((variable, self.conform(expr, self.expr(expr), variable.type, f"given '{token}'")))
        return pairs

    def body(
        self, node: lark.Tree
    ) -> tuple[list[tuple[Node, Any]], list[tuple[SharedVariable, Variable]], lark.Tree | None]:
        outputs: list[tuple[Node, Any]] = []
        updates: list[tuple[SharedVariable, Variable]] = []
        updated: set[str] = set()
        return_node: lark.Tree | None = None
        for statement in node.children:
            if return_node is not None:
                raise self.error(statement, "statement after return; return must come last")
            if statement.data == "let":
                token, type_node, expr = statement.children
                value = self.expr(expr)
                if isinstance(value, (str, DType)):
                    raise self.error(expr, "a let binds a value: a tensor, a number or a list", TxTypeError)
                if type_node is not None:
                    value = self.conform(expr, value, self.type(type_node), f"'{token}'")
                self.bind(token, "let")
                self.scope[str(token)].value = value
            elif statement.data == "let_many":
                self.let_many(statement)
            elif statement.data == "update":
                token, expr = statement.children
                target = self.lookup(token)
                if target.kind != "shared":
                    raise self.error(
                        token,
                        f"update: '{token}' is a {describe_kind(target.kind)}; "
                        "only shared variables can be updated",
                        TxTypeError,
                    )
                if str(token) in updated:
                    raise self.error(token, f"update: '{token}' is updated twice in this function")
                updated.add(str(token))
                variable = target.value
                updates.append(
                    (variable, self.conform(expr, self.expr(expr), variable.type, f"update of '{token}'"))
                )
            else:
                return_node = statement
                outputs = [(expr, self.expr(expr)) for expr in statement.children[1:] if expr is not None]
        return outputs, updates, return_node

    def let_many(self, statement: lark.Tree) -> None:
        """`let a, b = scan(...)`: one name per value of a call that gives several."""
        *tokens, expr = statement.children
        value = self.expr(expr)
        if not isinstance(value, (list, tuple)) or len(value) != len(tokens):
            found = f"{len(value)} values" if isinstance(value, (list, tuple)) else "one value"
            raise self.error(
                expr, f"let binds {len(tokens)} names but the expression gives {found}", TxTypeError
            )
        for token, item in zip(tokens, value, strict=True):
            self.bind(token, "let")
            self.scope[str(token)].value = self.as_variable(expr, item)

    def conform(self, node: Node, value: Any, want: TensorType, what: str) -> Variable:
        """`value` as a Variable of type `want`: a safe cast is made, anything else is an error."""
        if isinstance(value, (*NUMBER, list)):
            return self.call_builder(node, T.constant, self.literal_array(node, value, want.dtype))
        variable = self.as_variable(node, value)
        have = variable.type
        if have.rank != want.rank:
            raise self.error(
                node, f"{what} has type {have}, of rank {have.rank}; {want} has rank {want.rank}", TxTypeError
            )
        for h, w in zip(have.shape, want.shape, strict=True):
            if h is not None and w is not None and h != w:
                raise self.error(
                    node,
                    f"{what} has shape {show_shape(have.shape)}, not {show_shape(want.shape)}",
                    TxShapeError,
                )
        if have.dtype is not want.dtype:
            if not np.can_cast(have.dtype.numpy, want.dtype.numpy, "safe"):
                raise self.error(
                    node,
                    f"{what} is {have.dtype}, not {want.dtype}; convert it explicitly with "
                    f"cast(..., {want.dtype})",
                    TxTypeError,
                )
            variable = self.call_builder(node, T.cast, variable, want.dtype)
        return variable

    def check_unused(self, function: TxFunction, parameters: list[lark.Tree]) -> None:
        roots = [*function.outputs, *(e for _, e in function.updates), *(e for _, e in function.givens)]
        reached: set[Variable] = set()
        stack = list(roots)
        while stack:
            variable = stack.pop()
            if variable in reached:
                continue
            reached.add(variable)
            if variable.owner is not None:
                stack.extend(variable.owner.inputs)
        for variable, node in zip(function.inputs, parameters, strict=True):
            name = variable.name or ""
            if variable not in reached and not name.startswith("_"):
                raise self.error(
                    node.children[0],
                    f"parameter '{name}' is not used (name it '_{name}' to accept an unused argument)",
                )
