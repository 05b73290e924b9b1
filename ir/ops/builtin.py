"""Structural ops: constants and the function terminator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..attributes import Attribute, DenseAttr, attr, dense_array, int_tuple
from ..core import PURE, TERMINATOR, Location, NoResults, Operation, Region
from ..dtypes import DType
from ..errors import TcVerificationError
from ..types import TensorType

if TYPE_CHECKING:
    from ..builder import Builder
    from ..core import Value


class Constant(Operation):
    """`%c = tx.constant dense<2.0> : tensor<f64>`."""

    name = "tx.constant"
    traits = frozenset({PURE})
    arity = 0
    value = attr(DenseAttr, convert=dense_array)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        value = attributes["value"]
        assert isinstance(value, DenseAttr)
        return [value.type]

    @classmethod
    def of(cls, array: np.ndarray, location: Location | None = None) -> Constant:
        dense = DenseAttr(np.asarray(array))
        return cls([], [dense.type], {"value": dense}, location=location)

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        return [self.value]


class Return(NoResults):
    """`return %a, %b : tensor<f64>, tensor<f64>`: the function's results."""

    name = "return"
    traits = frozenset({TERMINATOR})


class Shape(Operation):
    """`%s = tx.shape %x : tensor<?x3xf64> -> tensor<2xi64>`: the run-time shape (Theano's Shape)."""

    name = "tx.shape"
    traits = frozenset({PURE})
    arity = 1

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        return [TensorType(DType.I64, (operand_types[0].rank,))]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        return [np.array(np.shape(operands[0]), dtype=np.int64)]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        return [None]  # a shape does not change with the values


class Size(Operation):
    """`%n = tx.size %x {axes = [0]} : tensor<?x3xf64> -> tensor<i64>`: elements along `axes`.

    The product of the run-time lengths of the named axes (all of them for
    the array's size); gradients of means divide by it.
    """

    name = "tx.size"
    traits = frozenset({PURE})
    arity = 1
    axes = attr(tuple, convert=int_tuple)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        (source,) = operand_types
        axes = attributes["axes"]
        assert isinstance(axes, tuple)
        valid = all(isinstance(a, int) and 0 <= a < source.rank for a in axes)
        if len(set(axes)) != len(axes) or not valid:
            raise TcVerificationError(f"tx.size: {list(axes)} are not distinct axes of {source}")
        return [TensorType(DType.I64, ())]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        shape = np.shape(operands[0])
        return [np.array(int(np.prod([shape[a] for a in self.axes], dtype=np.int64)), dtype=np.int64)]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        return [None]
