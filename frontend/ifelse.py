"""`tc.ifelse.ifelse`: Theano's lazy conditional, built as one `tx.ifelse` op with two regions.

    from tc.ifelse import ifelse
    z = ifelse(T.lt(a, b), T.mean(x), T.mean(y))

Unlike `T.switch`, which computes both sides elementwise, only the branch the condition picks
runs. Each branch becomes a region holding everything its outputs are computed from, down to
the inputs and shared variables it reads (captured as operands of the op, so the regions are
isolated from above). What the condition is computed from is computed before either branch, so
a branch reads it as an operand instead of computing it again; so is a random draw (its stream
advances whichever branch runs, as in Theano).

Both branches must give outputs of the same dtype and rank (a Python number takes the other
branch's dtype), and of the same shape at run time: the results are allocated before the
condition is read, and a mismatch is a TcShapeError before the call (Theano allows different
shapes). The shape checks of both branches are made before the call; an integer index `x[i]`
inside a branch is checked by the native code instead, so only the taken branch's can fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..ir.core import Block, Region
from ..ir.errors import TcShapeError, TcTypeError, TcValueError
from ..ir.ops import random as rnd
from ..ir.ops.ifelse import IfElse, join_types
from ..ir.ops.shape import Subtensor
from .graph import Apply, Constant, Variable, as_tensor_variable, located, user_location
from .scan_body import index_as_gather
from .shared import SharedVariable


def ifelse(condition: Any, then_branch: Any, else_branch: Any, name: str | None = None) -> Any:
    """Theano's `ifelse(condition, then_branch, else_branch, name=None)`: `then_branch` where the
    scalar `condition` is nonzero, else `else_branch`, computing only that one. Each branch is a
    Variable or a list or tuple of them; the result has the then branch's structure."""
    cond = as_tensor_variable(condition)
    if cond.ndim != 0:
        raise TcTypeError(located(f"ifelse: the condition must be a scalar, found {cond.type}"))
    thens, elses = _as_list(then_branch), _as_list(else_branch)
    if len(thens) != len(elses):
        raise TcValueError(
            located(
                f"ifelse: the then branch has {len(thens)} value(s) but the else branch {len(elses)}; "
                "both must have the same number"
            )
        )
    if not thens:
        raise TcValueError(located("ifelse: the branches have no values"))
    pairs = [_pair(t, e) for t, e in zip(thens, elses, strict=True)]
    thens, elses = [t for t, _ in pairs], [e for _, e in pairs]
    try:
        types = join_types("ifelse", [v.type for v in thens], [v.type for v in elses])
    except TcTypeError as err:
        raise TcTypeError(located(str(err))) from None
    for k, (t, e) in enumerate(zip(thens, elses, strict=True)):
        if any(
            a is not None and b is not None and a != b
            for a, b in zip(t.type.shape, e.type.shape, strict=True)
        ):
            raise TcShapeError(
                located(
                    f"ifelse: output #{k} is {t.type} in the then branch but {e.type} in the else branch; "
                    "both branches must give the same shape (the results are allocated before the "
                    "condition is read)"
                )
            )
    captured = _captured(thens + elses, cond)
    placeholders = [Variable(v.type, name=v.name) for v in captured]
    bound: dict[Variable, Variable] = dict(zip(captured, placeholders, strict=True))
    location = user_location()
    names = [name if len(types) == 1 else f"{name}_{k}" for k in range(len(types))] if name else []
    results = [Variable(t, name=names[k] if names else None, location=location) for k, t in enumerate(types)]

    def regions() -> list[Region]:
        from .lower import lower_body

        branches = (("then", thens), ("else", elses))
        blocks = [lower_body(f"ifelse.{label}", placeholders, outs, bound) for label, outs in branches]
        for block in blocks:
            _checked_indexing(block)
        return [Region([block]) for block in blocks]

    Apply(IfElse, [cond, *captured], {}, results, location, regions=regions)
    if isinstance(then_branch, tuple):
        return tuple(results)
    if isinstance(then_branch, list):
        return results
    return results[0]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _pair(then: Any, other: Any) -> tuple[Variable, Variable]:
    """Both sides as Variables; a Python number (or array) takes the other side's dtype."""
    if not isinstance(then, Variable) and isinstance(other, Variable):
        return as_tensor_variable(then, dtype=other.type.dtype), other
    if isinstance(then, Variable) and not isinstance(other, Variable):
        return then, as_tensor_variable(other, dtype=then.type.dtype)
    return as_tensor_variable(then), as_tensor_variable(other)


def _ancestors(root: Variable) -> set[int]:
    seen: set[int] = set()
    stack = [root]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if v.owner is not None:
            stack.extend(v.owner.inputs)
    return seen


def _captured(outputs: Sequence[Variable], condition: Variable) -> list[Variable]:
    """The variables the branches read from outside: inputs and shared variables, what the
    condition is computed from, and random draws. Everything else they need is in the branch."""
    computed_anyway = _ancestors(condition)
    free: dict[int, Variable] = {}
    visited: set[int] = set()
    stack = list(reversed(outputs))
    while stack:
        v = stack.pop()
        if id(v) in visited:
            continue
        visited.add(id(v))
        if isinstance(v, Constant) and not isinstance(v, SharedVariable):
            continue
        owner = v.owner
        if owner is None or id(v) in computed_anyway or issubclass(owner.op_class, rnd.RandomOp):
            free[id(v)] = v
            continue
        stack.extend(reversed(owner.inputs))
    return list(free.values())


def _checked_indexing(block: Block) -> None:
    """`x[i]` with `i` a variable: a tx.gather, whose index the native code checks when the
    branch runs (the shape plan would check it before the call, whichever branch runs)."""
    for op in block.ops:
        if type(op) is Subtensor and len(op.operands) >= 2:
            index_as_gather(block, op)
