"""Softmax and log-softmax along one axis: `tx.softmax %x {axis = 1}`, `tx.log_softmax`.

They are ops of their own, not compositions, so that `stabilize` can see
`log(softmax(x))` and turn it into `log_softmax(x)`, and so that their
gradients are the short closed forms. `expand-nnet` rewrites them into
reductions and elementwise ops before shape planning and fusion. The numpy
reference is max-shifted and computes exactly what that expansion computes:
`e = exp(x - max(x))`, then `e / sum(e)` or `(x - max(x)) - log(sum(e))`.
A row of -inf (or one holding +inf or nan) gives nan, as the shifted formula does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..attributes import Attribute, attr
from ..core import PURE, Operation, Region
from ..errors import TcTypeError
from ..types import TensorType

if TYPE_CHECKING:
    from ..builder import Builder
    from ..core import Value


class AxisNormalization(Operation):
    """Base of the family: one float operand, the result has its type."""

    traits = frozenset({PURE})
    arity = 1
    axis = attr(int)
    log: ClassVar[bool] = False

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        (source,) = operand_types
        if not source.dtype.is_float:
            raise TcTypeError(f"{cls.name} is defined for f32 and f64, found {source}")
        axis = attributes.get("axis")
        if not isinstance(axis, int) or isinstance(axis, bool) or not 0 <= axis < source.rank:
            raise TcTypeError(f"{cls.name}: axis {axis!r} is not an axis of {source}")
        return [source]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        x = np.asarray(operands[0])
        dtype = self.results[0].type.dtype.numpy
        if x.shape[self.axis] == 0:
            return [np.empty(x.shape, dtype)]
        with np.errstate(all="ignore"):
            shifted = x - np.max(x, axis=self.axis, keepdims=True)
            total = np.sum(np.exp(shifted), axis=self.axis, keepdims=True, dtype=dtype)
            value = shifted - np.log(total) if self.log else np.exp(shifted) / total
        return [np.asarray(value, dtype)]


class Softmax(AxisNormalization):
    name = "tx.softmax"

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """(g - sum(g * y)) * y, the sum along the axis."""
        (g,) = output_grads
        if g is None:
            return [None]
        b, y = builder, self.result
        weighted = b.reduce("sum", b.op("tx.mul", g, y), [self.axis], keepdims=True)
        return [b.op("tx.mul", b.op("tx.sub", g, weighted), y)]


class LogSoftmax(AxisNormalization):
    name = "tx.log_softmax"
    log = True

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """g - exp(y) * sum(g), the sum along the axis (exp(y) is the softmax)."""
        (g,) = output_grads
        if g is None:
            return [None]
        b = builder
        total = b.reduce("sum", g, [self.axis], keepdims=True)
        return [b.op("tx.sub", g, b.op("tx.mul", b.op("tx.exp", self.result), total))]
