"""Select, fill and cast: the elementwise ops that are not arithmetic (see ir/ops/elementwise.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..attributes import Attribute
from ..core import Location, Region, Value
from ..dtypes import DType
from ..errors import TcTypeError, TcVerificationError
from ..types import TensorType
from .binary import _split
from .elementwise_base import (
    ANY,
    ElementwiseOp,
)

if TYPE_CHECKING:
    from ..builder import Builder


# -- select and cast -----------------------------------------------------------------------


class Select(ElementwiseOp):
    """`select %cond, %a, %b`: a where cond else b (Theano's switch, numpy's where)."""

    name = "tx.select"
    frontend_name = None
    arity = 3
    accepts = ANY

    @staticmethod
    def reference(cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return np.where(cond, a, b)

    @classmethod
    def operand_dtype(cls, operand_types: Sequence[TensorType]) -> DType:
        if operand_types[0].dtype is not DType.BOOL:
            raise TcTypeError(f"{cls.name} needs a bool condition, found {operand_types[0]}")
        return super().operand_dtype(operand_types[1:])

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        return [None, *_split(b, self.operands[0], g)]


class Fill(ElementwiseOp):
    """`tx.fill %model, %value`: value broadcast to the shape both broadcast to (Theano's fill).

    The model's elements are never read, only its shape, so `fill(x, 0.0)` is
    `zeros_like(x)` and gradients use it to spread a value over an operand's shape.
    """

    name = "tx.fill"
    frontend_name = None
    arity = 2
    accepts = ANY

    @staticmethod
    def reference(model: np.ndarray, value: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return np.broadcast_to(value, np.broadcast_shapes(np.shape(model), np.shape(value)))

    @classmethod
    def operand_dtype(cls, operand_types: Sequence[TensorType]) -> DType:
        return operand_types[1].dtype

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        return [None, g]


def cast_reference(x: np.ndarray, dtype: DType) -> np.ndarray:
    """Float to integer saturates and maps nan to 0 (as JAX and LLVM's fptosi.sat)."""
    x = np.asarray(x)
    if x.dtype.kind == "f" and dtype.is_integer:
        info = np.iinfo(dtype.numpy)
        with np.errstate(invalid="ignore"):
            clipped = np.clip(np.nan_to_num(x, nan=0.0), info.min, info.max)
        # Values near the top of int64 round up in float; clamp after the cast too.
        big = clipped >= float(info.max)
        out = np.where(big, 0, clipped).astype(dtype.numpy)
        return np.where(big, info.max, out).astype(dtype.numpy)
    return x.astype(dtype.numpy)


class Cast(ElementwiseOp):
    """`tx.cast %x : tensor<i32> -> tensor<i64>`; the result type names the target dtype."""

    name = "tx.cast"
    frontend_name = None
    accepts = ANY

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        target = attributes.get("dtype")
        if not isinstance(target, DType):
            raise NotImplementedError("tx.cast takes its dtype from the result type")
        return [operand_types[0].with_dtype(target)]

    @classmethod
    def to(cls, value: Value, dtype: DType, location: Location | None = None) -> Cast:
        return cls([value], [value.type.with_dtype(dtype)], location=location)

    def verify_op(self) -> None:
        # Besides the dtype, a cast may forget or learn static sizes (`3x4` <-> `?x4`, as
        # MLIR's tensor.cast): a value can stand where another static type is expected. A
        # size it learns is checked by the shape plan before the call.
        source, result = self.operands[0].type.shape, self.results[0].type.shape
        if len(source) != len(result) or any(
            d is not None and r is not None and r != d for d, r in zip(source, result, strict=True)
        ):
            raise TcVerificationError(
                f"{self.name} may change the dtype and static sizes it does not contradict, "
                f"not turn {self.operands[0].type} into {self.results[0].type}"
            )

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        return [cast_reference(operands[0], self.results[0].type.dtype)]

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        return [b.cast(g, self.operands[0].type.dtype)]
