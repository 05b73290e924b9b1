"""stabilize: rewrite logarithms that overflow or lose every digit into stable forms.

    log(softmax(x))        -> log_softmax(x)
    log(sigmoid(x))        -> -softplus(-x)
    log(1 - sigmoid(x))    -> -softplus(x)        (so a cross-entropy of sigmoid is stable)
    log(1 + x), log(x + 1) -> log1p(x)
    log(sum(exp(x), axes)) -> m + log(sum(exp(x - m), axes))
    exp(x) / sum(exp(x), axis, keepdims) -> softmax(x, axis)   (written by hand: exp overflows)

where m is max(x) over the summed axes (kept for the subtraction, dropped for
the addition), replaced by 0 where it is not finite: a slice of -inf then
gives -inf and one holding +inf gives +inf, as the unshifted form does. Naive
forms give inf or nan at logits of +-1000 where these stay finite. The
rewrites agree with the originals in exact arithmetic; they change rounding,
which is the point, so `stabilize` is not part of `simplify`. Guarantees:
each result keeps its type; nothing is matched through a cast (a rewrite
there would change the precision of the computation). One difference: the
log-sum-exp of an empty slice needs a max over no elements, which is an
error before the call instead of -inf.

It runs first, before `grad`, so gradients are derived from the stable forms.
"""

from __future__ import annotations

from ..ir import Function, Operation, Value
from ..ir.builder import Builder
from ..ir.ops.nnet import Softmax
from ..ir.ops.reduce import Reduce
from ..ir.ops.views import DimShuffle
from .manager import Pass, register
from .rewrite import RewritePattern, Rewriter, apply_patterns
from .simplify import constant_scalar


def _producer(value: Value, name: str) -> Operation | None:
    """The op that defines `value`, if it is a `name` op."""
    owner = value.owner
    return owner if owner is not None and owner.name == name else None


def _replace(op: Operation, rewriter: Rewriter, builder: Builder, value: Value) -> bool:
    assert value.type == op.result.type, (value.type, op.result.type)
    rewriter.touched.extend(builder.created)
    rewriter.replace_op(op, [value])
    return True


class StabilizeLogOf(RewritePattern):
    """The patterns share their root: a tx.log whose operand another op produced."""

    op_names = frozenset({"tx.log"})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        (inner,) = op.operands
        if inner.owner is None or op.parent is None:
            return False
        return self.rewrite(op, inner.owner, rewriter, Builder(op.parent, op))

    def rewrite(self, log: Operation, inner: Operation, rewriter: Rewriter, b: Builder) -> bool:
        raise NotImplementedError


class LogOfSoftmax(StabilizeLogOf):
    def rewrite(self, log: Operation, inner: Operation, rewriter: Rewriter, b: Builder) -> bool:
        if not isinstance(inner, Softmax):
            return False
        return _replace(log, rewriter, b, b.op("tx.log_softmax", inner.operands[0], axis=inner.axis))


class LogOfSigmoid(StabilizeLogOf):
    def rewrite(self, log: Operation, inner: Operation, rewriter: Rewriter, b: Builder) -> bool:
        if inner.name != "tx.sigmoid":
            return False
        x = inner.operands[0]
        return _replace(log, rewriter, b, b.op("tx.neg", b.op("tx.softplus", b.op("tx.neg", x))))


class LogOfOneMinusSigmoid(StabilizeLogOf):
    def rewrite(self, log: Operation, inner: Operation, rewriter: Rewriter, b: Builder) -> bool:
        if inner.name != "tx.sub":
            return False
        one, other = inner.operands
        sigmoid = _producer(other, "tx.sigmoid")
        if sigmoid is None or constant_scalar(one) != 1 or other.type != log.result.type:
            return False
        return _replace(log, rewriter, b, b.op("tx.neg", b.op("tx.softplus", sigmoid.operands[0])))


class LogOfOnePlus(StabilizeLogOf):
    def rewrite(self, log: Operation, inner: Operation, rewriter: Rewriter, b: Builder) -> bool:
        if inner.name != "tx.add":
            return False
        lhs, rhs = inner.operands
        for one, x in ((lhs, rhs), (rhs, lhs)):
            if constant_scalar(one) == 1 and x.type == log.result.type:
                return _replace(log, rewriter, b, b.op("tx.log1p", x))
        return False


def is_max_shifted(value: Value) -> bool:
    """Whether `value` is `x - m` with m a max of x (possibly made finite by a select,
    or reshaped): the form this pass and the frontend's helpers build, so already stable."""
    sub = _producer(value, "tx.sub")
    if sub is None:
        return False
    x, shift = sub.operands
    while shift.owner is not None and shift.owner.name in ("tx.select", "tx.dimshuffle"):
        shift = shift.owner.operands[1 if shift.owner.name == "tx.select" else 0]
    owner = shift.owner
    return isinstance(owner, Reduce) and owner.kind == "max" and owner.operands[0] is x


class LogSumExp(StabilizeLogOf):
    def rewrite(self, log: Operation, inner: Operation, rewriter: Rewriter, b: Builder) -> bool:
        if not isinstance(inner, Reduce) or inner.kind != "sum":
            return False
        exp = _producer(inner.operands[0], "tx.exp")
        if exp is None or is_max_shifted(exp.operands[0]):
            return False
        x = exp.operands[0]
        axes, keepdims = inner.axes, inner.keepdims
        shift = finite_max(b, x, axes)
        summed = b.reduce("sum", b.op("tx.exp", b.op("tx.sub", x, shift)), axes, keepdims)
        if not keepdims:
            shift = b.dimshuffle(shift, [a for a in range(x.type.rank) if a not in axes])
        return _replace(log, rewriter, b, b.op("tx.add", shift, b.op("tx.log", summed)))


class SoftmaxFromPrimitives(RewritePattern):
    """exp(x) / sum(exp(x)) along one axis, the sum kept as length 1 (keepdims, or
    Theano's `.dimshuffle(0, 'x')`), is softmax(x); then `log` of it becomes log_softmax."""

    op_names = frozenset({"tx.div"})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        exp, total = op.operands
        if _producer(exp, "tx.exp") is None or op.parent is None:
            return False
        x = exp.owner.operands[0]  # type: ignore[union-attr]
        shuffle = total.owner if isinstance(total.owner, DimShuffle) else None
        kept = shuffle is None
        if shuffle is not None:
            total = shuffle.operands[0]
        summed = total.owner
        if not isinstance(summed, Reduce) or summed.kind != "sum" or summed.operands[0] is not exp:
            return False
        if len(summed.axes) != 1 or summed.keepdims != kept or x.type != op.result.type:
            return False
        (axis,) = summed.axes
        if shuffle is not None:
            restored = [-1 if a == axis else a - (a > axis) for a in range(x.type.rank)]
            if list(shuffle.pattern) != restored:
                return False
        b = Builder(op.parent, op)
        return _replace(op, rewriter, b, b.op("tx.softmax", x, axis=axis))


def finite_max(b: Builder, x: Value, axes: tuple[int, ...] | list[int]) -> Value:
    """max(x) over `axes` (kept, as length 1), or 0 where that max is +-inf or nan."""
    peak = b.reduce("max", x, axes, keepdims=True)
    finite = b.op("tx.lt", b.op("tx.abs", peak), float("inf"))
    return b.op("tx.select", finite, peak, b.constant(0.0, x.type.dtype))


STABILIZE_PATTERNS: list[RewritePattern] = [
    LogOfSoftmax(),
    LogOfSigmoid(),
    LogOfOneMinusSigmoid(),
    LogOfOnePlus(),
    LogSumExp(),
    SoftmaxFromPrimitives(),
]


@register
class Stabilize(Pass):
    name = "stabilize"
    summary = "numerically stable forms: log_softmax, softplus, log1p, max-shifted log-sum-exp"

    def run_on_function(self, function: Function) -> None:
        apply_patterns(function, STABILIZE_PATTERNS)
