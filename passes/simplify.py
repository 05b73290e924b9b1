"""simplify: algebraic identities that are exact in IEEE arithmetic.

Guarantees: every rewrite gives bit-identical results for every input,
nan, inf and signed zeros included (so `x + 0.0 -> x` is not here: it is
wrong for x = -0.0), and keeps the result's type, so a rewrite never
changes a broadcast shape or a dtype.
"""

from __future__ import annotations

import numpy as np

from ..ir import ELEMENTWISE, Function, Operation, Value
from ..ir.ops import elementwise as ew
from ..ir.ops.builtin import Constant
from .manager import Pass, register
from .rewrite import RewritePattern, Rewriter, apply_patterns


def constant_scalar(value: Value) -> float | int | bool | None:
    """The value of a constant whose elements are all equal, else None."""
    owner = value.owner
    if not isinstance(owner, Constant):
        return None
    array = owner.value
    if array.size == 0 or not np.all(array == array.flat[0]):
        return None
    return array.flat[0].item()


def _same_type(op: Operation, value: Value) -> bool:
    return op.result.type == value.type


class IdentityOperand(RewritePattern):
    """x * 1, x / 1, x - 0, x + 0 (integers), x ** 1 -> x."""

    op_names = frozenset({"tx.mul", "tx.div", "tx.sub", "tx.add", "tx.pow"})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        lhs, rhs = op.operands
        candidates = [(lhs, rhs)]
        if op.name in ("tx.mul", "tx.add"):
            candidates.append((rhs, lhs))
        dtype = op.result.type.dtype
        identity = {"tx.mul": 1, "tx.div": 1, "tx.pow": 1, "tx.sub": 0, "tx.add": 0}[op.name]
        for keep, other in candidates:
            c = constant_scalar(other)
            if c is None or c != identity or not _same_type(op, keep):
                continue
            if op.name == "tx.add" and not dtype.is_integer:
                continue  # -0.0 + 0.0 is +0.0
            rewriter.replace_op(op, [keep])
            return True
        return False


class SquareToMultiply(RewritePattern):
    """x ** 2 -> x * x: exact, and a multiply instead of a call to pow."""

    op_names = frozenset({"tx.pow"})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        base, exponent = op.operands
        if constant_scalar(exponent) != 2 or not _same_type(op, base):
            return False
        mul = rewriter.insert_before(op, ew.Mul.create([base, base], location=op.location))
        rewriter.replace_op(op, [mul.result])
        return True


class DoubleNegation(RewritePattern):
    """-(-x) -> x and ~~x -> x."""

    op_names = frozenset({"tx.neg", "tx.invert"})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        inner = op.operands[0].owner
        if inner is None or inner.name != op.name:
            return False
        rewriter.replace_op(op, [inner.operands[0]])
        return True


class TrivialCast(RewritePattern):
    """A cast to the operand's own dtype."""

    op_names = frozenset({"tx.cast"})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        if op.operands[0].type != op.result.type:
            return False
        rewriter.replace_op(op, [op.operands[0]])
        return True


class SelectSameBranches(RewritePattern):
    op_names = frozenset({"tx.select"})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        _, a, b = op.operands
        if a is not b or not _same_type(op, a):
            return False
        rewriter.replace_op(op, [a])
        return True


class StaticShape(RewritePattern):
    """tx.shape of a value whose type fixes every dimension is a constant."""

    op_names = frozenset({"tx.shape"})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        shape = op.operands[0].type.shape
        if any(d is None for d in shape):
            return False
        constant = rewriter.insert_before(
            op, Constant.of(np.array(shape, dtype=np.int64), location=op.location)
        )
        rewriter.replace_op(op, [constant.result])
        return True


class FillWithoutWork(RewritePattern):
    """fill(m, v) -> v when v already has the result's type; otherwise the model becomes the
    cheapest value of the same shape: an elementwise op's operand of its own type (the
    model's elements are never read, so computing them would be wasted work)."""

    op_names = frozenset({"tx.fill"})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        model, value = op.operands
        if value.type == op.result.type:
            rewriter.replace_op(op, [value])
            return True
        owner = model.owner
        if owner is None or not owner.has_trait(ELEMENTWISE):
            return False
        for operand in owner.operands:
            if operand.type.shape == model.type.shape:
                op.set_operand(0, operand)
                rewriter.touched.extend([op, owner])
                return True
        return False


class SliceBeforeElementwise(RewritePattern):
    """subtensor(f(a, s), i...) -> f(subtensor(a, i...), s) when f's result has no
    other use: only the selected elements are computed (Theano's local_subtensor_lift). The
    tutorial's `T.cast(shared_y, 'int32')[i * bs:(i + 1) * bs]` then casts one minibatch, not
    the whole data set. Only for one array operand of the result's shape (the others
    scalars), so the subscript applies to it unchanged; the values are the same."""

    op_names = frozenset({"tx.subtensor"})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        source, *scalars = op.operands
        inner = source.owner
        if (
            inner is None
            or not inner.has_trait(ELEMENTWISE)
            or len(inner.results) != 1
            or len(source.uses) != 1
        ):
            return False
        # One array operand (the others scalars): with two, slicing each separately would hide
        # a mismatch of their run-time sizes that the unsliced op reports.
        arrays = [v for v in inner.operands if v.type.rank != 0]
        if len(arrays) != 1 or arrays[0].type.shape != source.type.shape:
            return False
        operands = []
        for value in inner.operands:
            if value.type.rank == 0:
                operands.append(value)
                continue
            sliced = type(op).create([value, *scalars], dict(op.attributes), location=op.location)
            operands.append(rewriter.insert_before(op, sliced).result)
        lifted = type(inner)(operands, [op.result.type], dict(inner.attributes), location=inner.location)
        rewriter.insert_before(op, lifted)
        rewriter.replace_op(op, [lifted.result])
        return True


SIMPLIFY_PATTERNS: list[RewritePattern] = [
    IdentityOperand(),
    SquareToMultiply(),
    DoubleNegation(),
    TrivialCast(),
    SelectSameBranches(),
    StaticShape(),
    FillWithoutWork(),
    SliceBeforeElementwise(),
]


@register
class Simplify(Pass):
    name = "simplify"
    summary = "exact algebraic identities (x*1, x**2 -> x*x, --x, ...)"

    def run_on_function(self, function: Function) -> None:
        apply_patterns(function, SIMPLIFY_PATTERNS)
