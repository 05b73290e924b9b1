"""Cumulative sum along one axis: `tx.cumsum %x {axis = 1}` (Theano's `T.extra_ops.cumsum`).

The result has the operand's shape; its dtype follows numpy's cumsum on 64-bit Linux as
tx.reduce's sum does: bool and integers accumulate in int64 (unsigned too: tc has no
uint64), floats in their own dtype, one element after the other (numpy's order, so native
code and folding agree to the bit). `T.cumsum(x)` (axis None) is the cumsum of the
flattened array, as numpy's: the generated builder flattens first (`axis_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..attributes import Attribute, attr
from ..core import FRESH, PURE, SAME_SHAPE, Operation, Region
from ..errors import TcTypeError
from ..types import TensorType
from .reduce import reduce_dtype

if TYPE_CHECKING:
    from ..builder import Builder
    from ..core import Value


class CumSum(Operation):
    """The cumulative sum of `x` along `axis` (None: of the flattened array), as numpy's cumsum:
    bool and integers accumulate in int64."""

    name = "tx.cumsum"
    traits = frozenset({PURE, SAME_SHAPE, FRESH})
    arity = 1
    axis = attr(int, axis_of=0)
    frontend_name = "cumsum"
    frontend_namespace = "extra_ops"

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        (source,) = operand_types
        axis = attributes.get("axis")
        if not isinstance(axis, int) or isinstance(axis, bool) or not 0 <= axis < source.rank:
            raise TcTypeError(f"{cls.name}: axis {axis!r} is not an axis of {source}")
        return [TensorType(reduce_dtype("sum", source.dtype), source.shape)]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        dtype = self.results[0].type.dtype.numpy
        with np.errstate(all="ignore"):
            return [np.cumsum(np.asarray(operands[0]), axis=self.axis, dtype=dtype)]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """The reversed cumulative sum of g: x[i] reaches every y[j] with j >= i."""
        (g,) = output_grads
        if g is None or not self.operands[0].type.dtype.is_float:
            return [None]
        spec = tuple("::-1" if a == self.axis else ":" for a in range(g.type.rank))
        reversed_g = builder.op("tx.subtensor", g, spec=spec)
        summed = builder.op("tx.cumsum", reversed_g, axis=self.axis)
        return [builder.op("tx.subtensor", summed, spec=spec)]
