"""canonicalize: folding, simplification and dead-code elimination to a fixed point.

One worklist run over the union of the fold, simplify and loop patterns
(simplify_loops.py, hoist_invariants.py), so a fold can enable a simplification and back.
"""

from __future__ import annotations

from ..ir import Function
from .fold import FoldConstantOperands
from .hoist_invariants import HoistInvariants
from .manager import Pass, register
from .rewrite import apply_patterns
from .simplify import SIMPLIFY_PATTERNS
from .simplify_loops import LOOP_PATTERNS


@register
class Canonicalize(Pass):
    name = "canonicalize"
    summary = "fold + simplify + dce to a fixed point"

    def run_on_function(self, function: Function) -> None:
        patterns = [FoldConstantOperands(), *SIMPLIFY_PATTERNS, *LOOP_PATTERNS, HoistInvariants()]
        apply_patterns(function, patterns)
