"""cse: common-subexpression elimination.

Assumes: ops are in dominance order within a block. Guarantees: two pure,
region-free ops with the same name, operands, attributes and result types
are merged into the first; commutative ops match with operands swapped.
Each block (kernel bodies too) is handled separately.
"""

from __future__ import annotations

from collections.abc import Hashable

from ..ir import COMMUTATIVE, PURE, Function, Operation
from .manager import Pass, register
from .rewrite import blocks_of


def _key(op: Operation) -> Hashable:
    operands = [id(v) for v in op.operands]
    if op.has_trait(COMMUTATIVE):
        operands.sort()
    attrs = tuple(sorted(op.attributes.items()))
    return (op.name, tuple(operands), attrs, tuple(r.type for r in op.results))


@register
class CommonSubexpressionElimination(Pass):
    name = "cse"
    summary = "merge identical pure ops"

    def run_on_function(self, function: Function) -> None:
        for block in blocks_of(function):
            seen: dict[Hashable, Operation] = {}
            for op in list(block.ops):
                if not op.has_trait(PURE) or op.regions:
                    continue
                first = seen.setdefault(_key(op), op)
                if first is not op:
                    for old, new in zip(op.results, first.results, strict=True):
                        old.replace_all_uses_with(new)
                    op.erase()
