"""The one rewrite mechanism: patterns applied by a worklist until nothing changes.

A pattern looks at one op and either rewrites it through the Rewriter or
declines. The driver also deletes pure ops whose results became unused, so a
pattern only has to build the replacement.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import ClassVar

from ..ir import PURE, TERMINATOR, Block, Function, Operation, Value


class RewritePattern:
    """Match one op and rewrite it. `op_names` narrows which ops are offered."""

    op_names: ClassVar[frozenset[str] | None] = None

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        raise NotImplementedError


class Rewriter:
    """Edits the IR on behalf of a pattern and tells the driver what to revisit."""

    def __init__(self) -> None:
        self.touched: list[Operation] = []

    def insert_before(self, anchor: Operation, op: Operation) -> Operation:
        assert anchor.parent is not None
        if op.location is None:
            op.location = anchor.location  # rewrites keep the user's line
        anchor.parent.insert_before(anchor, op)
        self.touched.append(op)
        return op

    def replace_op(self, op: Operation, values: Sequence[Value]) -> None:
        """Replace every use of op's results by `values` and erase op."""
        for result, value in zip(op.results, values, strict=True):
            for use in list(result.uses):
                self.touched.append(use.op)
            result.replace_all_uses_with(value)
        self.erase(op)

    def erase(self, op: Operation) -> None:
        for value in op.operands:
            if value.owner is not None:
                self.touched.append(value.owner)
        op.erase()


def is_dead(op: Operation) -> bool:
    return op.has_trait(PURE) and not op.has_trait(TERMINATOR) and not any(r.uses for r in op.results)


def apply_patterns(function: Function, patterns: Iterable[RewritePattern]) -> bool:
    """Apply patterns to every op (nested ones too) until a fixed point; True if anything changed."""
    patterns = list(patterns)
    worklist = deque(function.walk())
    queued = set(worklist)
    changed = False
    while worklist:
        op = worklist.popleft()
        queued.discard(op)
        if op.parent is None:  # erased meanwhile
            continue
        rewriter = Rewriter()
        if is_dead(op):
            rewriter.erase(op)
            applied = True
        else:
            applied = any(
                p.match_and_rewrite(op, rewriter)
                for p in patterns
                if p.op_names is None or op.name in p.op_names
            )
        if applied:
            changed = True
            for other in rewriter.touched:
                if other not in queued and other.parent is not None:
                    worklist.append(other)
                    queued.add(other)
    return changed


def blocks_of(function: Function) -> list[Block]:
    """The function body and every block nested in it."""
    blocks = [function.body]
    for op in function.walk():
        for region in op.regions:
            blocks.extend(region.blocks)
    return blocks
