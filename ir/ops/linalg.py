"""Matrix products: `%c = tx.dot %a, %b : tensor<?x?xf64>, tensor<?x?xf64> -> tensor<?x?xf64>`.

numpy's dot for ranks up to two: matrix·matrix, matrix·vector, vector·matrix
and vector·vector (a scalar). Both operands have one dtype (the builder
promotes); the contracted dimensions must agree (checked at build time when
known, before the call otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..attributes import Attribute
from ..core import PURE, Operation, Region
from ..errors import TcShapeError, TcTypeError
from ..types import TensorType


class Dot(Operation):
    name = "tx.dot"
    traits = frozenset({PURE})

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        a, b = operand_types
        if a.dtype is not b.dtype:
            raise TcTypeError(f"tx.dot needs operands of one dtype, found {a} and {b}")
        if a.rank not in (1, 2) or b.rank not in (1, 2):
            raise TcTypeError(f"tx.dot takes vectors and matrices, found {a} and {b}")
        inner_a, inner_b = a.shape[-1], b.shape[0]
        if inner_a is not None and inner_b is not None and inner_a != inner_b:
            raise TcShapeError(f"tx.dot: {a} and {b} do not agree on the contracted dimension")
        shape = a.shape[:-1] + b.shape[1:]
        return [TensorType(a.dtype, shape)]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        a, b = operands
        return [np.asarray(np.dot(a, b)).astype(self.results[0].type.dtype.numpy)]
