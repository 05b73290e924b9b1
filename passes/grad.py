"""grad: expand every `tx.grad` into the IR of its reverse-mode gradient.

For `%g... = tx.grad %cost, %w...` the pass finds the ops on a path from
some w to the cost, walks them from the cost back in reverse program order,
asks each op for its vector-Jacobian product (`Operation.gradient`, built
through `ir.builder.Builder` just before the tx.grad) and sums the
contributions each value receives. The results replace the tx.grad, so
everything after this pass optimises and compiles gradients like any other
IR. Grads are expanded in program order, so a grad of a gradient sees the
inner one already expanded.

`tx.stop_gradient` is read here only: kind "disconnected" cuts the path it
sits on (Theano's disconnected_grad), kind "zero" sends zeros back, kind
"scoped" cuts it for the grad being expanded, whose new IR then reads its
operand directly (so a later grad sees through it). Once
every grad is expanded each one is replaced by its operand, so the passes
after this one never see it.
"""

# (No `from __future__ import annotations`: typing.NamedTuple compiles each field's annotation
# when it is a string, as vecmath_tables.py says.)
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ..ir import Function, Operation, TensorType, Value
from ..ir.builder import Builder
from ..ir.clone import clone_ops
from ..ir.core import Block
from ..ir.errors import TcGradientError
from ..ir.ops.grad import Grad, StopGradient
from ..ir.ops.ifelse import IfElse
from ..ir.ops.scan import Scan
from .manager import Pass, register

RegionGradient = Callable[[Any, Builder, list[Value | None]], list[Value | None]]


def _scan_gradient(op: Any, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
    from .grad_scan import scan_gradient  # (imported when a gradient meets a scan: 0.5 ms)

    return scan_gradient(op, builder, output_grads)


def _ifelse_gradient(op: Any, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
    from .grad_ifelse import ifelse_gradient

    return ifelse_gradient(op, builder, output_grads)


# Ops with regions differentiate through them with a rule of the pass's own (it needs
# `backpropagate` on the copied body).
REGION_GRADIENTS: dict[type[Operation], RegionGradient] = {Scan: _scan_gradient, IfElse: _ifelse_gradient}


@register
class GradPass(Pass):
    name = "grad"
    summary = "replace tx.grad by the reverse-mode gradient (Operation.gradient rules)"

    def run_on_function(self, function: Function) -> None:
        for op in list(function.body.ops):
            if isinstance(op, Grad):
                expand_grad(op)
        for op in list(function.body.ops):
            if isinstance(op, StopGradient):
                op.results[0].replace_all_uses_with(op.operands[0])
                op.erase()


def expand_grad(grad: Grad) -> None:
    block = grad.parent
    assert block is not None
    cost, wrt = grad.operands[0], list(grad.operands[1:])
    before = block.ops[: block.ops.index(grad)]
    builder = Builder(block, anchor=grad)

    seeds = {cost: builder.constant(1.0, cost.type.dtype)}
    flowed = backpropagate(before, seeds, wrt, builder)

    policy = grad.disconnected
    results: list[Value] = []
    for index, w in enumerate(wrt):
        total = flowed.totals.get(w)
        if w not in flowed.connected:
            _disconnected(grad, index, w, policy)
        results.append(total if total is not None else builder.fill(w, 0.0))
    for result, value in zip(grad.results, results, strict=True):
        result.replace_all_uses_with(_unscoped(value))
    grad.erase()
    known = set(before)
    for op in block.ops:
        if op not in known:
            for index, operand in enumerate(op.operands):
                if _unscoped(operand) is not operand:
                    op.set_operand(index, _unscoped(operand))


def _unscoped(value: Value) -> Value:
    """The operand of a "scoped" stop_gradient defining `value`, else `value`."""
    owner = value.owner
    if isinstance(owner, StopGradient) and owner.kind == "scoped":
        return owner.operands[0]
    return value


def _compatible(found: TensorType, expected: TensorType) -> bool:
    return (
        found.dtype is expected.dtype
        and found.rank == expected.rank
        and all(e is None or f is None or f == e for f, e in zip(found.shape, expected.shape, strict=True))
    )


def _operand_grads(op: Operation, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
    if op.regions:
        rule = REGION_GRADIENTS.get(type(op))
        if rule is None:
            raise TcGradientError(
                f"cannot differentiate through {op.name} at {op.location}: run grad before fuse"
            )
        return rule(op, builder, output_grads)
    try:
        return op.gradient(builder, output_grads)
    except NotImplementedError:
        raise TcGradientError(
            f"{op.name} at {op.location} is not differentiable, and the cost depends on the variables "
            "to differentiate by through it"
        ) from None


def _total(builder: Builder, values: list[Value]) -> Value | None:
    if not values:
        return None
    total = values[0]
    for value in values[1:]:
        total = builder.op("tx.add", total, value)
    return total


def _disconnected(grad: Grad, index: int, w: Value, policy: str) -> None:
    name = f"'{w.name}'" if w.name else f"operand #{index + 1}"
    message = (
        f"tx.grad at {grad.location}: the cost does not depend on {name} ({w.type}): it is disconnected "
        "from the cost; its gradient would be zero"
    )
    if policy == "raise":
        raise TcGradientError(message + " (pass disconnected_inputs='ignore' or 'warn' to get zeros)")
    if policy == "warn":
        warnings.warn(message, stacklevel=2)


class Backpropagated(NamedTuple):
    """The total cotangent of each source one reached, and every value the seeds depend on
    through a path gradients take (a source outside it is disconnected)."""

    totals: dict[Value, Value]
    connected: set[Value]


def backpropagate(
    ops: Sequence[Operation], seeds: dict[Value, Value], sources: Sequence[Value], builder: Builder
) -> Backpropagated:
    """Reverse mode through `ops` (in program order) from the cotangents `seeds` of some of their
    values, each op's vector-Jacobian product built by `builder`. Only ops on a path from a source
    to a seed are differentiated."""
    depends: set[Value] = set(sources)
    for op in ops:
        if any(v in depends for v in op.operands):
            depends.update(op.results)
    needed: set[Value] = set(seeds)
    for op in reversed(ops):
        if isinstance(op, StopGradient) and op.kind != "zero":
            continue  # the seeds do not depend on its operand as far as gradients go
        if any(r in needed for r in op.results):
            needed.update(op.operands)
    # Gradients flow through floats only: an integer on the way (a shape, a size, an index)
    # carries none, so a draw sized by `h.shape` is not differentiated through.
    on_path = {v for v in depends & needed if v.type.dtype.is_float}
    contributions: dict[Value, list[Value]] = {v: [g] for v, g in seeds.items()}
    for op in reversed(ops):
        if not any(r in contributions for r in op.results) or not any(v in on_path for v in op.operands):
            continue
        output_grads = [_total(builder, contributions.pop(r, [])) for r in op.results]
        for operand, operand_grad in zip(op.operands, _operand_grads(op, builder, output_grads), strict=True):
            if operand_grad is None or operand not in on_path:
                continue
            if operand_grad.type != operand.type and _compatible(operand_grad.type, operand.type):
                # A rule knew more or fewer static sizes than the operand's type says.
                operand_grad = builder.retype(operand_grad, operand.type)
            if operand_grad.type != operand.type:
                raise TcGradientError(
                    f"internal error: the gradient rule of {op.name} at {op.location} gave "
                    f"{operand_grad.type} for an operand of type {operand.type}"
                )
            contributions.setdefault(operand, []).append(operand_grad)
    totals = {s: _total(builder, contributions.get(s, [])) for s in sources}
    return Backpropagated({s: t for s, t in totals.items() if t is not None}, needed)


def backpropagate_body(
    body: Block,
    step: Builder,
    mapping: dict[Value, Value],
    seeds: dict[int, list[Value]],
    sources: list[Value],
    known: dict[int, Value] | None = None,
) -> dict[Value, Value]:
    """A region's body copied by `step` into its block (the body's arguments read as `mapping`
    says), then backpropagated from cotangents of its returned values, by position: the totals
    `backpropagate` gives for `sources` (a loop's or a branch's gradient). `known[k]` is the
    value returned value k had (kept by the forward loop): the gradient reads it instead of
    the copy, whose computation is then dead unless something else needs it."""
    copies = clone_ops(body.ops[:-1], mapping)
    for copy in copies:
        step.insert(copy)
    returned = [mapping.get(v, v) for v in body.ops[-1].operands]
    by_value: dict[Value, list[Value]] = {}
    for position, parts in seeds.items():
        by_value.setdefault(returned[position], []).extend(parts)
    totals = {v: step.retype(_total(step, parts), v.type) for v, parts in by_value.items() if parts}
    grads = backpropagate(copies, totals, sources, step).totals
    for position, value in (known or {}).items():
        copy = returned[position]
        if copy.owner is not None and copy.owner in copies:
            copy.replace_all_uses_with(step.retype(value, copy.type))
    return grads
