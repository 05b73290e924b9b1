"""Integer-array ("advanced") indexing: gather and its adjoint, scatter-add.

`%y = tx.gather %x, %i0, %i1 : ...` is numpy's `x[i0, i1]`: the k index
arrays (integer dtypes) address the first k axes of `x` and broadcast
together (a `?` dimension never stretches, as everywhere in tc); the result
has shape broadcast(index shapes) + x.shape[k:]. Negative indices count from
the end; an index outside [-n, n) is a TcIndexError (the native code checks
every index before it reads: never an access out of bounds).

`%z = tx.scatter_add %base, %updates, %i0, ... : ...` is
`z = base.copy(); np.add.at(z, (i0, ...), updates)`: repeated indices
accumulate. `updates` has exactly the shape of the matching gather. It is
gather's gradient and, with gather, the only op whose native code can fail
on the values (not the shapes) of its operands: both carry CHECKS_INDICES.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..attributes import Attribute
from ..core import CALLABLE_BODY, FRESH, PURE, Function, Operation, Region, at_least
from ..errors import TcIndexError, TcTypeError
from ..sizes import STATIC, S, SizeMismatch, Sizes, broadcast
from ..types import Dim, TensorType, broadcast_error

if TYPE_CHECKING:
    from ..builder import Builder
    from ..core import Value

# The op's native code checks operand values and may return an index-error status.
CHECKS_INDICES = "checks_indices"
# A native entry point returns FIRST_INDEX_STATUS + n when check n of `index_checks` fails.
FIRST_INDEX_STATUS = 2


def index_checks(function: Function) -> list[tuple[Operation, int]]:
    """Every (op, axis) whose indices native code checks, in program order: check n is entry n.

    A loop body's checks (a scan's step) come where the loop is, in the body's own order."""
    checks: list[tuple[Operation, int]] = []
    for op in function.body.ops:
        if op.has_trait(CHECKS_INDICES):
            checks += [(op, axis) for axis in range(len(op.operands) - (1 if isinstance(op, Gather) else 2))]
        elif op.has_trait(CALLABLE_BODY):
            for region in op.regions:
                checks += index_checks(Function(function.name, region.block))
    return checks


def index_shape(op_name: str, source: TensorType, indices: Sequence[TensorType]) -> tuple[Dim, ...]:
    """broadcast(index shapes) + source.shape[k:], after checking the index operands."""
    if not indices:
        raise TcTypeError(f"{op_name}: expected at least one index array, found none")
    if len(indices) > source.rank:
        raise TcTypeError(f"{op_name}: {len(indices)} index arrays for a source of rank {source.rank}")
    for axis, index in enumerate(indices):
        if not index.dtype.is_integer:
            raise TcTypeError(
                f"{op_name}: the index for axis {axis} must have an integer dtype, found {index}"
            )
    index_shapes = [i.shape for i in indices]
    try:
        return gathered_shape(STATIC, source.shape, index_shapes)
    except SizeMismatch as mismatch:
        raise broadcast_error(index_shapes, mismatch) from None


def gathered_shape(sizes: Sizes[S], source: Sequence[S], indices: Sequence[Sequence[S]]) -> tuple[S, ...]:
    """The shape `source[indices]` has: the index arrays broadcast together, then the axes they
    leave alone, in any evaluator's sizes (ir/sizes.py): the type rule's, the plan's, codegen's."""
    return (*broadcast(sizes, indices), *source[len(indices) :])


def check_indices(
    op: Operation, shape: Sequence[int], indices: Sequence[np.ndarray]
) -> tuple[np.ndarray, ...]:
    """The indices wrapped into [0, n), or a TcIndexError naming the first bad one."""
    wrapped = []
    for axis, index in enumerate(indices):
        index = np.asarray(index).astype(np.int64)
        size = shape[axis]
        bad = (index < -size) | (index >= size)
        if bad.any():
            raise TcIndexError(index_error_message(op, axis, size, int(index[bad].flat[0])))
        wrapped.append(np.where(index < 0, index + size, index))
    return tuple(wrapped)


def index_error_message(op: Operation, axis: int, size: int, index: int | None) -> str:
    where = f" at {op.location}" if op.location is not None else ""
    found = f"index {index}" if index is not None else "an index"
    return f"{op.name}{where}: {found} is out of bounds for axis {axis} with size {size}"


class Gather(Operation):
    name = "tx.gather"
    traits = frozenset({PURE, CHECKS_INDICES, FRESH})
    arity = at_least(1)  # the source, then one index array per leading axis

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        source, *indices = operand_types
        return [source.with_shape(index_shape(cls.name, source, indices))]

    @property
    def source(self) -> Value:
        return self.operands[0]

    @property
    def indices(self) -> list[Value]:
        return self.operands[1:]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        x, *indices = (np.asarray(a) for a in operands)
        return [np.array(x[check_indices(self, x.shape, indices)])]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """The output gradient added back at the gathered positions (repeats accumulate)."""
        (g,) = output_grads
        x = self.source
        none: list[Value | None] = [None] * len(self.indices)
        if g is None or not x.type.dtype.is_float:
            return [None, *none]
        zeros = builder.fill(x, 0.0)
        return [builder.op("tx.scatter_add", zeros, g, *self.indices), *none]


class ScatterAdd(Operation):
    name = "tx.scatter_add"
    traits = frozenset({PURE, CHECKS_INDICES, FRESH})
    arity = at_least(3)  # the base, the updates, then the index arrays

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        base, updates, *indices = operand_types
        if updates.dtype is not base.dtype:
            raise TcTypeError(
                f"tx.scatter_add: updates must have the dtype of the base {base}, found {updates}"
            )
        if base.dtype.is_bool:
            raise TcTypeError(f"tx.scatter_add: cannot add into a bool tensor {base}; cast it first")
        expected = index_shape(cls.name, base, indices)
        if len(expected) != updates.rank or any(
            e is not None and u is not None and e != u for e, u in zip(expected, updates.shape, strict=True)
        ):
            shown = TensorType(base.dtype, expected)
            raise TcTypeError(
                f"tx.scatter_add: updates must have the gathered shape {shown}, found {updates}"
            )
        return [base]

    @property
    def indices(self) -> list[Value]:
        return self.operands[2:]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        base, updates, *indices = (np.asarray(a) for a in operands)
        out = np.array(base, copy=True)
        np.add.at(out, check_indices(self, base.shape, indices), updates)
        return [out]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """The base gets g unchanged; each update gets g at the position it was added to."""
        (g,) = output_grads
        none: list[Value | None] = [None] * len(self.indices)
        if g is None or not g.type.dtype.is_float:
            return [None, None, *none]
        gathered = builder.op("tx.gather", g, *self.indices)
        updates = self.operands[1]
        if gathered.type != updates.type:  # the updates' static sizes where the indices' are `?`
            gathered = builder.fill(updates, gathered)
        return [g, gathered, *none]
