"""dce: dead-code elimination.

Guarantees: no pure op with unused results remains (the rewrite driver
erases them); ops with effects (stores, returns) are kept.
"""

from __future__ import annotations

from ..ir import Function
from .manager import Pass, register
from .rewrite import apply_patterns


@register
class DeadCodeElimination(Pass):
    name = "dce"
    summary = "remove pure ops whose results are unused"

    def run_on_function(self, function: Function) -> None:
        apply_patterns(function, [])
