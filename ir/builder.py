"""Building IR from Python: what gradient rules and rewrites use to create ops.

A `Builder` inserts each new op before an anchor op (or at the end of a
block), gives it the anchor's location, and returns its result. Operands
may be Python numbers: they become scalar constants of the dtype of the
first IR value among the operands, so a rule can write
`b.op("tx.mul", g, 2.0)` without spelling out the constant.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .attributes import Attribute
from .core import OP_REGISTRY, Block, Location, Operation, Value
from .dtypes import DType
from .ops.builtin import Constant
from .ops.elementwise import Cast
from .types import TensorType

Operand = Value | int | float | bool


class Builder:
    def __init__(self, block: Block, anchor: Operation | None = None, location: Location | None = None):
        self.block = block
        self.anchor = anchor
        self.location = location if location is not None else (anchor.location if anchor else None)
        self.created: list[Operation] = []

    def insert(self, op: Operation) -> Operation:
        if op.location is None:
            op.location = self.location
        if self.anchor is not None:
            self.block.insert_before(self.anchor, op)
        else:
            self.block.append(op)
        self.created.append(op)
        return op

    def create(self, name: str, operands: Sequence[Operand], **attributes: Attribute) -> Operation:
        """The op `name` (with its type rule) on `operands`, inserted."""
        values = self._values(operands)
        return self.insert(OP_REGISTRY[name].create(values, dict(attributes)))

    def op(self, name: str, *operands: Operand, **attributes: Attribute) -> Value:
        """The single result of `create(name, operands, **attributes)`."""
        return self.create(name, operands, **attributes).result

    def constant(self, value: float | int | bool | np.ndarray, dtype: DType) -> Value:
        return self.insert(Constant.of(np.asarray(value, dtype=dtype.numpy))).result

    def cast(self, value: Value, dtype: DType) -> Value:
        if value.type.dtype is dtype:
            return value
        return self.insert(Cast.to(value, dtype)).result

    def retype(self, value: Value, target: TensorType) -> Value:
        """`value` typed as `target`, a type of the same dtype that may know fewer or more static
        sizes (those it adds are checked before the call)."""
        if value.type == target:
            return value
        return self.insert(Cast([value], [target])).result

    def fill(self, model: Value, value: Operand) -> Value:
        """`value` spread over `model`'s shape (`fill(x, 0.0)` is zeros_like(x))."""
        if not isinstance(value, Value):
            value = self.constant(value, model.type.dtype)
        return self.op("tx.fill", model, value)

    def reduce(self, kind: str, value: Value, axes: Sequence[int], keepdims: bool) -> Value:
        return self.op("tx.reduce", value, kind=kind, axes=tuple(axes), keepdims=keepdims)

    def dimshuffle(self, value: Value, pattern: Sequence[int]) -> Value:
        if tuple(pattern) == tuple(range(value.type.rank)):
            return value
        return self.op("tx.dimshuffle", value, pattern=tuple(pattern))

    def sum_to(self, value: Value, target: TensorType) -> Value:
        """Undo broadcasting: sum `value` over the axes along which `target` was broadcast.

        `target`'s shape broadcasts to `value`'s; the result has `target`'s
        shape. Only static sizes of 1 broadcast (`?` never does), so which axes
        to sum is known here.
        """
        rank, lead = value.type.rank, value.type.rank - target.rank
        axes = [
            a for a in range(rank) if a < lead or (target.shape[a - lead] == 1 and value.type.shape[a] != 1)
        ]
        if not axes:
            return value
        summed = self.reduce("sum", value, axes, keepdims=True)
        return self.dimshuffle(summed, list(range(lead, rank)))

    def _values(self, operands: Sequence[Operand]) -> list[Value]:
        values = [v for v in operands if isinstance(v, Value)]
        if len(values) == len(operands):
            return list(operands)  # type: ignore[arg-type]
        if not values:
            raise TypeError("an op built from Python numbers alone has no dtype; use constant()")
        dtype = values[0].type.dtype
        return [v if isinstance(v, Value) else self.constant(v, dtype) for v in operands]
