"""The shape rule of tx.scan: the step body's rules, run once, in terms of the scan's operands.

Every step sees arguments of the same shapes (a sequence's rows, a state's
rows, the non-sequences), so the body's shapes and checks are those of one
step: the body is planned as a function of its own arguments (`ShapeState`),
then its terms are rewritten into the enclosing plan's terms (a row's axis a
is axis a + 1 of its operand). A state's value must keep its shape from step
to step, and each sequence needs n rows; both are checked before the call.
A size inside the step may depend on non-sequence integers, never on a value
that changes from step to step (a sequence's entry or a state).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from .core import Function
from .errors import TcCompilationError
from .shape_state import ShapeState, location, rule_for
from .shape_terms import ArgDim, ArgValue, Expr, Term

if TYPE_CHECKING:
    from .ops.scan import Scan


class _Varying(Exception):
    """A size term reads a value that changes from step to step."""


def scan_shape_rule(op: Scan, state: ShapeState) -> None:
    layout = op.layout
    n = state.scalar(op, op.operands[0])
    operand_shapes = [state.shapes[v] for v in op.operands]
    body = Function(f"{op.name}.body", op.body.block, op.location)
    inner = ShapeState(body)
    for inner_op in body.body.ops:
        rule_for(inner_op)(inner_op, inner)

    # Body argument i -> (operand index, axis offset) of what it reads.
    sources: list[tuple[int, int]] = [(1 + k, 1) for k in range(layout.sequences)]
    for k in range(layout.states):
        sources += [(layout.first_init + k, 1)] * layout.tap_counts[k]
    sources += [(layout.first_nonsequence + k, 0) for k in range(layout.nonsequences)]

    def outer(term: Term) -> Term:
        if isinstance(term, ArgDim):
            operand, offset = sources[term.arg]
            return operand_shapes[operand][term.axis + offset]
        if isinstance(term, ArgValue):
            operand, offset = sources[term.arg]
            value = op.operands[operand]
            if offset != 0:  # a sequence's entry or a state: it changes from step to step
                raise _Varying
            if term.index is None:
                found = state.scalars.get(value)
            else:
                entries = state.values.get(value)
                found = entries[term.index] if entries is not None else None
            if found is None:
                raise _Varying
            return found
        if isinstance(term, Expr):
            return Expr(term.kind, tuple(None if a is None else outer(a) for a in term.args))
        return term

    translate = _guarded(op, outer)
    # A size the step's arguments know statically must be what the operands give.
    for arg, (operand, offset) in zip(body.args, sources, strict=True):
        for axis, size in enumerate(arg.type.shape):
            given = operand_shapes[operand][axis + offset]
            if size is not None and given != size:
                state.agree(op, [size, given])
    for c in inner.constraints:
        state.constraints.append(replace(c, left=translate(c.left), right=translate(c.right)))
    for b in inner.bounds:
        state.bounds.append(replace(b, term=translate(b.term)))
    for r in inner.requirements:
        terms = tuple(tuple(map(translate, t)) if isinstance(t, tuple) else translate(t) for t in r.terms)
        state.requirements.append(replace(r, terms=terms))

    returned = body.return_op.operands
    for k in range(layout.states):
        init = operand_shapes[layout.first_init + k]
        row = tuple(translate(t) for t in inner.shapes[returned[k]])
        for got, want in zip(row, init[1:], strict=True):
            if got != want:
                state.agree(op, [want, got])
        lookback = layout.lookback(k)
        if init[0] != lookback:
            state.agree(op, [lookback, init[0]])
    lengths = tuple(operand_shapes[1 + k][0] for k in range(layout.sequences))
    state.require(op, "scan_steps", n, lengths)
    last_only = set(op.last_only)
    for k, (result, value) in enumerate(zip(op.results, returned, strict=True)):
        row = tuple(translate(t) for t in inner.shapes[value])
        if k in last_only:  # the last value: shaped as the initial row
            state.shapes[result] = operand_shapes[layout.first_init + k][1:]
        elif op.until and k == len(returned) - 1:  # the number of steps run
            state.shapes[result] = ()
        else:
            state.shapes[result] = (n, *row)


def _guarded(op: Scan, outer: Callable[[Term], Term]) -> Callable[[Term], Term]:
    def translate(term: Term) -> Term:
        try:
            return outer(term)
        except _Varying:
            raise TcCompilationError(
                f"'{op.name}' at {location(op)}: a size or index check inside the step depends on a "
                "value that changes from step to step (a sequence's entry or a state); sizes in a "
                "step may depend only on shapes and on non-sequence integers"
            ) from None

    return translate
