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

from ..attributes import Attribute, attr
from ..core import Operation, Region, Value, at_least
from ..errors import TcGradientError
from ..types import TensorType

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
