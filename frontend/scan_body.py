"""How tc.scan builds its step body from the user's step function (frontend/scan.py).

- which outer variables the step reads (`free_variables`): passed in as operands, so the
  body is isolated from above and loop-invariant work stays outside the loop;
- which shared variables the step carries (`carried_shared`): the ones it updates and the
  random streams it draws from;
- the lowered body's finishing touches: its returned types made the states' own
  (`retype_returned`), and indices that change per step checked in native code
  (`checked_indexing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..ir.core import Block, Operation
from ..ir.ops import random as rnd
from ..ir.ops.elementwise import Cast
from ..ir.ops.grad import Grad
from ..ir.ops.indexing import Gather
from ..ir.ops.shape import Subtensor
from ..ir.ops.shape_spec import OPERAND, IndexEntry, SliceEntry, parse_spec
from ..ir.types import TensorType
from .graph import Apply, Constant, Variable
from .shared import SharedVariable


def retype_returned(block: Any, expected: list[TensorType]) -> None:
    """Returned values typed exactly as the states' rows: a step may know more (or fewer) static
    sizes than the initial value (checked before the call)."""
    ret = block.terminator
    for index, (value, target) in enumerate(zip(ret.operands, expected, strict=True)):
        if value.type != target:
            cast = block.insert_before(ret, Cast([value], [target]))
            ret.set_operand(index, cast.result)


def checked_indexing(block: Block, varying_args: int) -> None:
    """`x[i]` with `i` from a sequence or a state changes every step, so the shape plan cannot
    check it before the call: it becomes a tx.gather, whose index the generated code checks."""
    varying = set(block.args[:varying_args])
    for op in block.ops:
        if type(op) is Subtensor and any(v in varying for v in op.operands[1:]):
            op = index_as_gather(block, op) or op
        if any(v in varying for v in op.operands):
            varying.update(op.results)


def index_as_gather(block: Block, op: Subtensor) -> Operation | None:
    """`x[i, j]` (integer operands, then whole axes) replaced by the tx.gather that computes it
    with its indices checked by the generated code; None for other subtensors."""
    entries = parse_spec(op.spec)
    leading = [e for e in entries if isinstance(e, IndexEntry)]
    rest = entries[len(leading) :]
    if not (
        leading
        and entries[: len(leading)] == leading
        and all(e.index == OPERAND for e in leading)
        and all(isinstance(e, SliceEntry) and e.is_full for e in rest)
    ):
        return None
    gather = block.insert_before(op, Gather.create(op.operands, location=op.location))
    op.results[0].replace_all_uses_with(gather.results[0])
    op.erase()
    return gather


def carried_shared(
    outputs: list[Variable], updates: list[tuple[SharedVariable, Variable]], nonsequences: list[Variable]
) -> list[tuple[SharedVariable, Variable]]:
    """(shared variable, its value after a step): the step's updates, and each random stream
    drawn inside the step (advanced by its default update). As in Theano, a draw the step
    reads is inside it, drawn anew at every step, unless it comes in as a non-sequence."""
    carried = list(updates)
    known = {id(s) for s, _ in carried}
    for apply in _applies(outputs + [v for _, v in updates], nonsequences):
        if issubclass(apply.op_class, rnd.RandomOp):
            state = apply.inputs[0]
            if (
                isinstance(state, SharedVariable)
                and id(state) not in known
                and state.default_update is not None
            ):
                carried.append((state, state.default_update))
                known.add(id(state))
    return carried


def _ancestors(root: Variable) -> list[Variable]:
    """`root` and every variable it is computed from."""
    seen: dict[int, Variable] = {}
    stack = [root]
    while stack:
        v = stack.pop()
        if id(v) not in seen:
            seen[id(v)] = v
            stack.extend(v.owner.inputs if v.owner is not None else [])
    return list(seen.values())


def _applies(roots: Sequence[Variable], boundary: Sequence[Variable] = ()) -> list[Apply]:
    """The applies `roots` are computed by, not looking past the `boundary` variables."""
    seen: set[int] = {id(v.owner) for v in boundary if v.owner is not None}
    found: list[Apply] = []
    stack = [v.owner for v in roots if v.owner is not None]
    while stack:
        apply = stack.pop()
        if id(apply) in seen:
            continue
        seen.add(id(apply))
        found.append(apply)
        stack.extend(v.owner for v in apply.inputs if v.owner is not None)
    return found


def free_variables(
    outputs: Sequence[Variable], placeholders: Sequence[Variable], nonsequences: Sequence[Variable]
) -> list[Variable]:
    """Variables the step reads from outside: not computed from the placeholders, not constants.

    They are computed once, before the loop, and passed in (loop-invariant code stays out),
    except what a T.grad inside the step differentiates through: whatever depends on a
    variable it differentiates by is computed in the step, so the path stays visible."""
    inside: dict[int, bool] = {id(p): True for p in placeholders}
    # Variables a T.grad in the step differentiates by: passed in, but what uses them is not.
    wrt = {id(w) for apply in _applies(outputs) if apply.op_class is Grad for w in apply.inputs[1:]}
    # Non-sequences are passed in as they are (a draw among them is drawn once), unless a
    # T.grad in the step differentiates through them.
    for v in nonsequences:
        if not any(id(u) in wrt for u in _ancestors(v)):
            inside[id(v)] = False

    def depends(variable: Variable) -> bool:
        # Iterative post-order, so deep step graphs do not hit the recursion limit.
        stack = [variable]
        while stack:
            v = stack[-1]
            if id(v) in inside:
                stack.pop()
                continue
            pending = [u for u in (v.owner.inputs if v.owner else []) if id(u) not in inside]
            if pending:
                stack.extend(pending)
                continue
            draws = v.owner is not None and issubclass(v.owner.op_class, rnd.RandomOp)
            inputs = v.owner.inputs if v.owner else []
            inside[id(v)] = draws or any(inside[id(u)] or id(u) in wrt for u in inputs)
            stack.pop()
        return inside[id(variable)]

    free: dict[int, Variable] = {}
    stack = list(outputs)
    visited: set[int] = set()
    while stack:
        v = stack.pop()
        if id(v) in visited or v in placeholders:
            continue
        visited.add(id(v))
        if isinstance(v, Constant) and not isinstance(v, SharedVariable):
            continue
        if not depends(v):
            free[id(v)] = v
            continue
        if v.owner is not None:
            stack.extend(v.owner.inputs)
    return list(free.values())
