"""Loop-invariant code motion: what a scan's step computes from its non-sequences alone is
computed once, before the loop.

An op of the step is invariant when it is pure, has no region, cannot fail on its operands'
values (no index checks: a loop of no steps must not fail where the step never ran), and
reads only the non-sequences, constants and invariant results. Such ops move out of the loop
(each a copy reading the scan's operands, before it); the invariant values the rest of the
step still reads become new non-sequences. The gradient of an RNN step reads U^T at every
step; after the move it is one transposed view made before the loop, which the scan's
lowering lays out contiguously once (codegen_llvm/scan.py) rather than each step's product
copying it.
"""

from __future__ import annotations

from ..ir import Operation, Value
from ..ir.clone import clone_ops
from ..ir.core import PURE, Block
from ..ir.ops.indexing import CHECKS_INDICES
from ..ir.ops.scan import Scan, ScanLayout, argument_types
from .rewrite import RewritePattern, Rewriter
from .simplify_loops import replace_scan


class HoistInvariants(RewritePattern):
    op_names = frozenset({Scan.name})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        assert isinstance(op, Scan)
        block = op.body.block
        invariant: set[Value] = set(block.args[op.layout.first_nonsequence_arg :])
        moved: list[Operation] = []  # in step order; constants among them only as operands
        for inner in block.ops:
            if inner is block.terminator or not _movable(inner):
                continue
            if all(value in invariant for value in inner.operands):
                invariant.update(inner.results)
                moved.append(inner)
        if not any(inner.operands for inner in moved):
            return False  # only constants: nothing computed per step to save
        _move_out(op, rewriter, moved)
        return True


def _movable(op: Operation) -> bool:
    return op.has_trait(PURE) and not op.regions and not op.has_trait(CHECKS_INDICES)


def _move_out(op: Scan, rewriter: Rewriter, moved: list[Operation]) -> None:
    """Copies of `moved` before the scan; a new scan whose step reads the moved values it
    still needs as new non-sequences."""
    block = op.body.block
    layout = op.layout
    outside: dict[Value, Value] = dict(
        zip(block.args[layout.first_nonsequence_arg :], op.operands[layout.first_nonsequence :], strict=True)
    )
    for copy in clone_ops(moved, outside):
        rewriter.insert_before(op, copy)
    gone = {inner for inner in moved if inner.operands}  # constants stay too, for folding
    kept = [inner for inner in block.ops if inner not in gone]
    still_read = {value for inner in kept for value in inner.operands}
    exported = [r for inner in moved if inner in gone for r in inner.results if r in still_read]
    operands = [*op.operands, *(outside[value] for value in exported)]
    new_layout = ScanLayout(layout.sequences, layout.tap_counts, layout.taps, len(operands))
    names = [a.name for a in block.args] + [value.name for value in exported]
    new_block = Block(argument_types(new_layout, [v.type for v in operands]), names)
    inside: dict[Value, Value] = dict(zip([*block.args, *exported], new_block.args, strict=True))
    for copy in clone_ops(kept, inside):
        new_block.append(copy)
    replace_scan(op, rewriter, operands, op.attributes, new_block)
    rewriter.erase(op)
