"""The shape rule of tx.ifelse: both branches' rules, in terms of the ifelse's operands.

Which branch runs is known only once the condition is computed, inside the call; the
shape plan runs before it. So each branch is planned as a function of its own arguments
(`ShapeState`), its terms are rewritten into the enclosing plan's terms (argument i is operand
i + 1), and every check of both branches joins the enclosing plan. Result k must have the
same shape whichever branch runs (the requirement `ifelse_shapes`, a TcShapeError naming both
shapes): that shape is what the results are allocated with before the call. A size inside a
branch may depend on the operands' shapes and on integer scalars the plan tracks (inputs,
shapes, arithmetic on them), never on other data.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .core import CALLABLE_BODY, Function, Operation
from .errors import TcCompilationError, TcError, TcShapeError
from .shape_checks import REQUIREMENTS, Requirement
from .shape_state import ShapeState, location, rule_for
from .shape_terms import ArgDim, ArgValue, Expr, Term, expr, is_int_scalar

if TYPE_CHECKING:
    from .ops.ifelse import IfElse
    from .shape_checks import _Evaluator

BRANCH_NAMES = ("then", "else")


def branch_state(op: IfElse, index: int) -> tuple[Function, ShapeState]:
    """Branch `index` (0: then, 1: else) as a function, and its own shape plan."""
    body = Function(f"{op.name}.{BRANCH_NAMES[index]}", op.regions[index].block, op.location)
    inner = ShapeState(body)
    for inner_op in body.body.ops:
        rule_for(inner_op)(inner_op, inner)
        _track_fused_scalar(inner_op, inner)
    return body, inner


def _track_fused_scalar(op: Operation, state: ShapeState) -> None:
    """An integer scalar computed from tracked ones stays tracked once fused into a kernel (the
    backend plans a branch again after fusion: a scan's step count cast to i64 is then a
    kernel.elementwise): the kernel body's own rules give its term over the kernel's operands."""
    if not op.regions or op.has_trait(CALLABLE_BODY) or len(op.results) != 1:
        return
    if not is_int_scalar(op.results[0].type) or not all(v in state.scalars for v in op.operands):
        return
    block = op.regions[0].block
    kernel = ShapeState(Function("kernel", block))
    try:
        for inner in block.ops[:-1]:
            rule_for(inner)(inner, kernel)
    except TcError:
        return
    yielded = block.ops[-1].operands if block.ops else []
    term = kernel.scalars.get(yielded[0]) if len(yielded) == 1 else None
    if term is not None:
        state.scalars[op.results[0]] = _substitute(term, [state.scalars[v] for v in op.operands])


def _substitute(term: Term, args: list[Term]) -> Term:
    if isinstance(term, ArgValue) and term.index is None:
        return args[term.arg]
    if isinstance(term, Expr):
        return expr(term.kind, *(None if a is None else _substitute(a, args) for a in term.args))
    return term


def result_shape(
    static: tuple[int | None, ...], then: tuple[Term, ...], other: tuple[Term, ...]
) -> list[Term]:
    """The shape a result is allocated with: per axis its static size, else a size either branch
    knows, else the then branch's term (the plan checks that the two agree)."""
    shape: list[Term] = []
    for axis, known in enumerate(static):
        candidates = [then[axis], other[axis]]
        fixed = [t for t in candidates if isinstance(t, int)]
        shape.append(known if known is not None else fixed[0] if fixed else then[axis])
    return shape


def ifelse_shape_rule(op: IfElse, state: ShapeState) -> None:
    operand_shapes = [state.shapes[v] for v in op.operands[1:]]

    def outer(term: Term) -> Term:
        if isinstance(term, ArgDim):
            return operand_shapes[term.arg][term.axis]
        if isinstance(term, ArgValue):
            found = state.scalars.get(op.operands[1 + term.arg]) if term.index is None else None
            if found is None:
                raise TcCompilationError(
                    f"'{op.name}' at {location(op)}: a size or index check inside a branch depends on "
                    f"operand #{1 + term.arg}, whose value the shape plan cannot know before the call; "
                    "sizes in a branch may depend only on shapes and integer scalar inputs"
                )
            return found
        if isinstance(term, Expr):
            return expr(term.kind, *(None if a is None else outer(a) for a in term.args))
        return term

    def translate(term: object) -> object:
        if isinstance(term, tuple):
            return tuple(translate(t) for t in term)
        return outer(term)  # type: ignore[arg-type]

    shapes = []
    for index in range(2):
        body, inner = branch_state(op, index)
        for c in inner.constraints:
            state.constraints.append(replace(c, left=outer(c.left), right=outer(c.right)))
        for b in inner.bounds:
            state.bounds.append(replace(b, term=outer(b.term)))
        for r in inner.requirements:
            state.requirements.append(replace(r, terms=tuple(translate(t) for t in r.terms)))  # type: ignore[misc]
        shapes.append([tuple(outer(t) for t in inner.shapes[v]) for v in body.return_op.operands])
    for k, (result, then, other) in enumerate(zip(op.results, *shapes, strict=True)):
        if then != other:
            state.require(op, "ifelse_shapes", then, other, (k,))
        state.shapes[result] = tuple(result_shape(result.type.shape, then, other))


def _ifelse_shapes(r: Requirement, value: _Evaluator, where: str) -> None:
    then, other = value.many(r.terms[0]), value.many(r.terms[1])
    if then != other:
        k = r.terms[2][0]  # type: ignore[index]
        raise TcShapeError(
            f"{where}: output #{k} has shape {then} in the then branch but {other} in the else branch; "
            "ifelse needs both branches to give the same shape (its results are allocated before the "
            "condition is read)"
        )


REQUIREMENTS["ifelse_shapes"] = _ifelse_shapes
