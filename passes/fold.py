"""fold: constant folding through the ops' numpy reference semantics.

Assumes: pure ops have an `evaluate`. Guarantees: a pure op whose operands
are all constants (and whose result is small) is replaced by a constant of
exactly the value the interpreter would compute; no arithmetic is rewritten
by hand. An op whose reference fails on its constants is left in place, so
the error comes when the function is called, as it would for variables.
"""

from __future__ import annotations

import numpy as np

from ..ir import PURE, Function, Operation, TcError
from ..ir.ops.builtin import Constant
from .manager import Pass, register
from .rewrite import RewritePattern, Rewriter, apply_patterns

MAX_FOLDED_ELEMENTS = 1 << 12  # larger results would bloat the IR and the binary


class FoldConstantOperands(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        if not op.has_trait(PURE) or op.regions or op.name == Constant.name or not op.operands:
            return False
        owners = [v.owner for v in op.operands]
        if not all(isinstance(o, Constant) for o in owners):
            return False
        if any(r.type.is_static is False for r in op.results):
            return False
        if any(int(np.prod(r.type.shape)) > MAX_FOLDED_ELEMENTS for r in op.results):
            return False
        try:
            with np.errstate(all="ignore"):
                values = op.evaluate([o.value for o in owners])  # type: ignore[union-attr]
        except (TcError, ValueError, IndexError, TypeError, ZeroDivisionError):
            # Constant operands the op refuses (a reduction of an empty axis, an index out of
            # range): leave it, so the call reports it exactly as it would for variables.
            return False
        new = [rewriter.insert_before(op, Constant.of(np.array(v, order="C"))) for v in values]
        rewriter.replace_op(op, [n.result for n in new])
        return True


@register
class Fold(Pass):
    name = "fold"
    summary = "constant folding through the reference semantics"

    def run_on_function(self, function: Function) -> None:
        apply_patterns(function, [FoldConstantOperands()])
