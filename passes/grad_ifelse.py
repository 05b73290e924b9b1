"""The gradient of tx.ifelse: an ifelse of the two branches' gradients, on the same condition.

For `%r... = tx.ifelse %c, %x... ({then}, {else})` and the cotangents `%g...` of its results,
the gradient is

    %dx... = tx.ifelse %c, %x..., %g... ({then'}, {else'})

where each branch' is its branch copied (the forward values it needs are recomputed, only in
the branch that runs) and backpropagated from the returned values' cotangents (`backpropagate`,
the grad pass's reverse mode). It returns the cotangent of each float captured operand: zeros
where that branch does not read it. The condition and integer operands get no gradient.
"""

from __future__ import annotations

from ..ir import Value
from ..ir.builder import Builder
from ..ir.core import Block, Region
from ..ir.ops.builtin import Return
from ..ir.ops.ifelse import IfElse


def ifelse_gradient(op: IfElse, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
    captured = op.operands[1:]
    floats = [p for p, v in enumerate(captured) if v.type.dtype.is_float]
    seeded = [k for k, g in enumerate(output_grads) if g is not None and op.results[k].type.dtype.is_float]
    if not floats or not seeded:
        return [None] * len(op.operands)
    cotangents = [output_grads[k] for k in seeded]
    operands = [op.operands[0], *captured, *cotangents]
    regions = [
        Region([_backward_branch(region, captured, cotangents, floats, seeded)]) for region in op.regions
    ]
    backward = builder.insert(IfElse.create(operands, {}, regions))
    grads: list[Value | None] = [None] * len(op.operands)
    for position, p in enumerate(floats):
        grads[1 + p] = builder.retype(backward.results[position], captured[p].type)
    return grads


def _backward_branch(
    region: Region,
    captured: list[Value],
    cotangents: list[Value | None],
    floats: list[int],
    seeded: list[int],
) -> Block:
    """The branch copied into a new block (arguments: the captured values, then the results'
    cotangents), backpropagated; it returns each float captured value's cotangent."""
    from .grad import backpropagate_body

    forward = region.block
    block = Block([v.type for v in captured] + [g.type for g in cotangents if g is not None])
    args = block.args[: len(captured)]
    seeds_in = block.args[len(captured) :]
    mapping: dict[Value, Value] = dict(zip(forward.args, args, strict=True))
    step = Builder(block)
    seeds = {k: [seeds_in[position]] for position, k in enumerate(seeded)}
    grads = backpropagate_body(forward, step, mapping, seeds, [args[p] for p in floats])
    yielded = []
    for p in floats:
        d = grads.get(args[p])
        yielded.append(step.retype(d, args[p].type) if d is not None else step.fill(args[p], 0.0))
    step.insert(Return.create(yielded))
    return block
