"""Deep copies of ops and blocks: a loop's step body copied into another body (the gradient
of a scan recomputes the forward step inside the backward one)."""

from __future__ import annotations

from collections.abc import Iterable

from .core import Block, Operation, Region, Value


def clone_op(op: Operation, mapping: dict[Value, Value]) -> Operation:
    """A copy of `op` reading `mapping[v]` for each operand v (values not in `mapping` are
    read as they are); its results are added to `mapping`. Regions are copied too."""
    regions = [Region([clone_block(block, {}) for block in region.blocks]) for region in op.regions]
    operands = [mapping.get(v, v) for v in op.operands]
    copy = type(op)(operands, [r.type for r in op.results], dict(op.attributes), regions, op.location)
    for old, new in zip(op.results, copy.results, strict=True):
        new.name = old.name
        mapping[old] = new
    return copy


def clone_block(block: Block, mapping: dict[Value, Value]) -> Block:
    """A copy of `block` with fresh arguments and copies of all its ops."""
    copy = Block([a.type for a in block.args], [a.name for a in block.args])
    mapping.update(zip(block.args, copy.args, strict=True))
    for op in clone_ops(block.ops, mapping):
        copy.append(op)
    return copy


def clone_ops(ops: Iterable[Operation], mapping: dict[Value, Value]) -> list[Operation]:
    return [clone_op(op, mapping) for op in ops]
