"""canonicalize: folding, simplification and dead-code elimination to a fixed point.

One worklist run over the union of the fold, simplify and loop patterns
(simplify_loops.py, hoist_invariants.py), so a fold can enable a simplification and back.
"""

from __future__ import annotations

from ..ir import Function
from ..ir.ops.scan import Scan
from .fold import FoldConstantOperands
from .manager import Pass, register
from .rewrite import RewritePattern, apply_patterns
from .simplify import SIMPLIFY_PATTERNS


@register
class Canonicalize(Pass):
    name = "canonicalize"
    summary = "fold + simplify + dce to a fixed point"

    def run_on_function(self, function: Function) -> None:
        patterns = [FoldConstantOperands(), *SIMPLIFY_PATTERNS]
        if any(op.name == Scan.name for op in function.walk()):  # (no other pattern makes one)
            patterns += _loop_patterns()
        apply_patterns(function, patterns)


def _loop_patterns() -> list[RewritePattern]:
    """The patterns rooted at a tx.scan, imported with the first loop (0.4 ms of every other
    function's cold compile)."""
    from .hoist_invariants import HoistInvariants
    from .simplify_loops import LOOP_PATTERNS

    return [*LOOP_PATTERNS, HoistInvariants()]
