"""`tx.grad`: a gradient still to be built.

    %gW, %gb = tx.grad %cost, %W, %b {disconnected = "raise"}
        : tensor<f64>, tensor<784x10xf64>, tensor<10xf64> -> tensor<784x10xf64>, tensor<10xf64>

stands for d cost / d W and d cost / d b. The builder's `T.grad` emits it;
the `grad` pass replaces it by the IR of the reverse-mode gradient, built
from each op's `gradient` rule, so everything after that pass (folding,
CSE, fusion, code generation) treats gradients like any other IR. An input
the cost does not depend on is an error, unless `disconnected` is "ignore"
(zeros) or "warn" (zeros and a warning), as Theano's `disconnected_inputs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..attributes import Attribute, attr
from ..core import SAME_SHAPE, Operation, Region, Value, at_least
from ..errors import TcGradientError
from ..types import TensorType

if TYPE_CHECKING:
    from ..builder import Builder

DISCONNECTED_POLICIES = ("raise", "warn", "ignore")


class Grad(Operation):
    name = "tx.grad"
    arity = at_least(2)  # the cost and at least one variable to differentiate by
    disconnected = attr(str)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        cost, *wrt = operand_types
        if cost.rank != 0 or not cost.dtype.is_float:
            raise TcGradientError(f"tx.grad: the cost must be a float scalar, found {cost}")
        for index, t in enumerate(wrt):
            if not t.dtype.is_float:
                raise TcGradientError(
                    f"tx.grad: cannot differentiate with respect to operand #{index + 1} of type {t}: "
                    "only float tensors have gradients"
                )
        if attributes.get("disconnected") not in DISCONNECTED_POLICIES:
            found = attributes.get("disconnected")
            raise TcGradientError(
                f"tx.grad: disconnected must be one of {', '.join(DISCONNECTED_POLICIES)}, found {found!r}"
            )
        return list(wrt)

    @property
    def cost(self) -> Value:
        return self.operands[0]

    @property
    def wrt(self) -> list[Value]:
        return self.operands[1:]


STOP_KINDS = ("zero", "disconnected", "scoped")


class StopGradient(Operation):
    """`%y = tx.stop_gradient %x {kind = "zero"}`: y is x, but no gradient flows through it.

    Theano's `zero_grad` (kind "zero": the gradient of x through y is zeros, x
    stays connected) and `disconnected_grad` (kind "disconnected": the path
    through y does not count, so an input reached only through it is
    disconnected). Kind "scoped" is "disconnected" for the one tx.grad whose
    cost it is on (the builder's `consider_constant` and `known_grads`), and
    transparent to the gradient IR built from it, so a grad of that gradient
    differentiates through it as Theano does. Only the grad pass reads it;
    that pass then replaces it by its operand, so no backend ever sees one.
    """

    name = "tx.stop_gradient"
    arity = 1
    traits = frozenset({SAME_SHAPE})
    kind = attr(str)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        if attributes.get("kind") not in STOP_KINDS:
            found = attributes.get("kind")
            raise TcGradientError(
                f"tx.stop_gradient: kind must be one of {', '.join(STOP_KINDS)}, found {found!r}"
            )
        return [operand_types[0]]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        return [operands[0]]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        if self.kind == "zero":
            return [builder.fill(self.operands[0], 0.0)]
        return [None]
