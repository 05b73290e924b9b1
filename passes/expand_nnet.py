"""expand-nnet: softmax and log-softmax as the reductions and elementwise ops they stand for.

    softmax(x)     -> e / sum(e)                 with e = exp(x - max(x))
    log_softmax(x) -> (x - max(x)) - log(sum(e))

(max and sum along the op's axis, keeping it, so the results broadcast back.)
Assumes nothing; guarantees that no tx.softmax or tx.log_softmax is left, and
that each result is computed exactly as the op's numpy reference computes it.
It runs before shape planning, so the max's need for a non-empty axis is
checked before any native code runs, and before fusion, which puts the
elementwise parts into kernels.
"""

from __future__ import annotations

from ..ir import Function, Operation
from ..ir.builder import Builder
from ..ir.ops.nnet import AxisNormalization
from .manager import Pass, register
from .rewrite import RewritePattern, Rewriter, apply_patterns


class ExpandSoftmax(RewritePattern):
    op_names = frozenset({"tx.softmax", "tx.log_softmax"})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        assert isinstance(op, AxisNormalization) and op.parent is not None
        b = Builder(op.parent, op)
        (x,) = op.operands
        shifted = b.op("tx.sub", x, b.reduce("max", x, [op.axis], keepdims=True))
        exp = b.op("tx.exp", shifted)
        total = b.reduce("sum", exp, [op.axis], keepdims=True)
        result = b.op("tx.sub", shifted, b.op("tx.log", total)) if op.log else b.op("tx.div", exp, total)
        rewriter.touched.extend(b.created)
        rewriter.replace_op(op, [result])
        return True


@register
class ExpandNnet(Pass):
    name = "expand-nnet"
    summary = "softmax/log_softmax into max, exp, sum and elementwise ops"

    def run_on_function(self, function: Function) -> None:
        apply_patterns(function, [ExpandSoftmax()])
