"""Loops in .tx: `scan(step, sequences = [...], outputs_info = [...], ...)`, whose step is a `fn`.

    fn rnn_step(x: f32[?], h: f32[?], W: f32[?, ?], U: f32[?, ?]) -> f32[?] {
        return tanh(dot(x, W) + dot(h, U))
    }
    fn run(xs: f32[?, ?], h0: f32[?], W: f32[?, ?], U: f32[?, ?]) -> f32[?, ?] {
        return scan(rnn_step, sequences = [xs], outputs_info = [h0], non_sequences = [W, U])
    }

The keywords are tc.scan's (Theano's); `none` in outputs_info is Theano's None, an output
that is not fed back; `let hs, ys = scan(...)` binds several outputs. The step function's
parameters take, in order, each sequence's row, each state's previous value and each
non-sequence; the values it returns are the new states (then the outputs without state). Its
parameter types are
checked against what the scan passes (dtype and rank). A step function is an ordinary
`fn` too, callable on its own; it may not update shared variables. Random draws in the
step advance their stream by one draw per step, and the function that runs the scan
updates the stream after the call (tc.scan's `updates`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lark

from ..graph import Variable
from ..scan import scan
from ..shared import SharedVariable
from .errors import TxTypeError
from .expressions import ExpressionLowering, Node, count

SCAN_KEYWORDS = ("sequences", "outputs_info", "non_sequences", "n_steps", "go_backwards")


class LoopLowering(ExpressionLowering):
    """The `scan` call: lowering a `fn` as a step function, on the scan's placeholders."""

    fn_items: dict[str, lark.Tree]
    scan_updates: list[tuple[SharedVariable, Variable]]

    def scan_call(self, node: lark.Tree, arg_nodes: list[Any]) -> Any:
        args = [a for a in arg_nodes if a is not None]
        if not args or (isinstance(args[0], lark.Tree) and args[0].data == "kwarg"):
            raise self.error(node, "scan takes the step function first: scan(step, sequences = [...], ...)")
        step_node = args[0]
        if not (isinstance(step_node, lark.Tree) and step_node.data == "name"):
            raise self.error(
                step_node, "scan's first argument must name a fn (the step function)", TxTypeError
            )
        token = step_node.children[0]
        if str(token) not in self.fn_items:
            raise self.unknown(token, "step function", list(self.fn_items))
        keywords: dict[str, Any] = {}
        for arg in args[1:]:
            if not (isinstance(arg, lark.Tree) and arg.data == "kwarg"):
                raise self.error(
                    arg, "after the step function, scan takes keywords: " + ", ".join(SCAN_KEYWORDS)
                )
            key, value_node = arg.children
            if str(key) not in SCAN_KEYWORDS:
                raise self.unknown(key, "scan keyword", list(SCAN_KEYWORDS))
            if str(key) in keywords:
                raise self.error(key, f"argument '{key}' is given twice")
            keywords[str(key)] = self._scan_argument(value_node, str(key))
        outputs, updates = self.call_builder(node, scan, self.step_function(token), **keywords)
        self.scan_updates.extend(updates.items())
        return outputs

    def _scan_argument(self, node: Node, key: str) -> Any:
        if key not in ("sequences", "outputs_info", "non_sequences"):
            return self.expr(node)
        # A list of tensors here (list literals elsewhere hold numbers).
        if isinstance(node, lark.Tree) and node.data == "list":
            items = [child for child in node.children if child is not None]
        else:
            items = [node]
        return [
            None if _is_none(item) and key == "outputs_info" else self.as_variable(item, self.expr(item))
            for item in items
        ]

    def step_function(self, token: lark.Token) -> Callable[..., Any]:
        """The `fn` named `token` as a Python step function for tc.scan."""
        item = self.fn_items[str(token)]
        params = [c for c in item.children[1:-1] if isinstance(c, lark.Tree) and c.data == "param"]
        body = item.children[-1]

        def step(*args: Variable) -> Any:
            if len(args) != len(params):
                raise self.error(
                    token,
                    f"step function '{token}' takes {count(len(params), 'parameter')} but the scan passes "
                    f"{len(args)} (each sequence's row, each state's previous value, each non-sequence)",
                    TxTypeError,
                )
            saved = self.scope
            self.scope = {}
            try:
                for param, value in zip(params, args, strict=True):
                    self._bind_step_parameter(param, value)
                returned, updates, _ = self.body(body)  # type: ignore[attr-defined]
                if updates:
                    raise self.error(
                        token, f"step function '{token}' updates a shared variable; a step cannot"
                    )
                values = [self.as_variable(n, v) for n, v in returned]
            finally:
                self.scope = saved
            return values[0] if len(values) == 1 else values

        return step

    def _bind_step_parameter(self, param: lark.Tree, value: Variable) -> None:
        name_token, type_node = param.children
        declared = self.type(type_node)  # type: ignore[attr-defined]
        if declared.dtype is not value.type.dtype or declared.rank != value.type.rank:
            raise self.error(
                name_token,
                f"step parameter '{name_token}' is declared {declared} but the scan passes {value.type}",
                TxTypeError,
            )
        self.bind(name_token, "parameter")  # type: ignore[attr-defined]
        self.scope[str(name_token)].value = value


def _is_none(node: Node) -> bool:
    """`none` in outputs_info: an output the step does not feed back (Theano's None)."""
    return isinstance(node, lark.Tree) and node.data == "name" and str(node.children[0]) == "none"
