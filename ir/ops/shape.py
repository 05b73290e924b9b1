"""Ops whose result shapes come from values: basic indexing, reshape, concatenate, arange, alloc.

Sizes given at run time are scalar integer operands; each op's attributes say
which entries are constants and which come from an operand (`"$"`, taken in
order). `ir/shapes.py` tracks those operands back to the arguments' values, so
every result size is known before native code runs.

- `%y = tx.subtensor %x, %i, %j {spec = ["$:$", "1:-1:2", "3"]}`: numpy's basic
  indexing. Per leading axis, an integer index (`"3"`, `"-1"`, `"$"`; the axis is
  dropped; out of range is an error) or a slice `start:stop:step` whose start and
  stop are empty, integer literals or `"$"`, and whose step is a literal. Slices
  clamp as in Python, so they never go out of bounds. Axes past the spec are
  kept whole. A view: no copy.
- `%z = tx.inc_subtensor %x, %y, %i... {spec, set = false}`: a copy of `x` whose
  region `x[spec]` has `y` added (or, with `set = true`, written). Theano's
  inc_subtensor / set_subtensor, and the gradient of tx.subtensor.
- `%y = tx.reshape %x, %n... {shape = ["$", -1, 3]}`: numpy's reshape (C order);
  one entry may be -1 (inferred).
- `%y = tx.concatenate %a, %b... {axis = 0}`: numpy's concatenate.
- `%r = tx.arange %start, %stop, %step {dtype = "i64"}`: numpy's arange.
- `%y = tx.alloc %value, %n... {shape = ["$", 3]}`: `value` broadcast to the shape
  (Theano's alloc).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..attributes import Attribute, attr
from ..core import FRESH, PURE, Operation, Region, at_least
from ..dtypes import DType
from ..errors import TcTypeError, TcValueError
from ..sizes import STATIC, S, Sizes
from ..types import TensorType

# The spec and shape-attribute helpers live in shape_spec.py; the names other modules import
# from here stay importable from here.
from .shape_spec import (
    OPERAND,
    Entry,
    _check_scalar_ints,
    _checked_index,
    _fill_shape,
    _shape_entries,
    check_broadcast_into,
    count_operands,
    numpy_index,
    parse_spec,
    subtensor_type,
)
from .shape_spec import (
    Bound as Bound,
)
from .shape_spec import (
    IndexEntry as IndexEntry,
)
from .shape_spec import (
    SliceEntry as SliceEntry,
)
from .shape_spec import (
    format_entry as format_entry,
)

if TYPE_CHECKING:
    from ..builder import Builder
    from ..core import Value


class _SpecOp(Operation):
    """Shared by the ops that carry a subtensor spec."""

    spec = attr(tuple)

    @property
    def entries(self) -> list[Entry]:
        return parse_spec(self.spec, self.name)


class Subtensor(_SpecOp):
    name = "tx.subtensor"
    traits = frozenset({PURE})
    arity = at_least(1)  # the tensor, then the spec's scalar operands

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        spec = attributes["spec"]
        assert isinstance(spec, tuple)
        entries = parse_spec(spec, cls.name)
        source, *scalars = operand_types
        if len(scalars) != count_operands(entries):
            raise TcTypeError(
                f"{cls.name}: spec {list(spec)} takes {count_operands(entries)} scalar operand(s), "
                f"found {len(scalars)}"
            )
        _check_scalar_ints(cls.name, scalars, "indices and slice bounds")
        return [subtensor_type(source, entries, cls.name)]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        x = np.asarray(operands[0])
        index = _checked_index(x, numpy_index(self.entries, operands[1:]), self.name)
        return [np.array(x[index])]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """g added into zeros at the indexed region."""
        (g,) = output_grads
        x = self.operands[0]
        rest: list[Value | None] = [None] * (len(self.operands) - 1)
        if g is None or not x.type.dtype.is_float:
            return [None, *rest]
        zeros = builder.fill(x, 0.0)
        grad = builder.op("tx.inc_subtensor", zeros, g, *self.operands[1:], spec=self.spec, set=False)
        return [grad, *rest]


class IncSubtensor(_SpecOp):
    name = "tx.inc_subtensor"
    traits = frozenset({PURE, FRESH})
    arity = at_least(2)  # the tensor, the values, then the spec's scalar operands
    set = attr(bool)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        spec = attributes["spec"]
        assert isinstance(spec, tuple)
        entries = parse_spec(spec, cls.name)
        source, values, *scalars = operand_types
        if len(scalars) != count_operands(entries):
            raise TcTypeError(
                f"{cls.name}: spec {list(spec)} takes {count_operands(entries)} scalar operand(s), "
                f"found {len(scalars)}"
            )
        _check_scalar_ints(cls.name, scalars, "indices and slice bounds")
        region = subtensor_type(source, entries, cls.name)
        if values.dtype is not source.dtype:
            raise TcTypeError(f"{cls.name}: values of {values} into {source}: the dtypes differ")
        check_broadcast_into(cls.name, values, region)
        return [source]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        x = np.array(operands[0], copy=True)
        index = _checked_index(x, numpy_index(self.entries, operands[2:]), self.name)
        if self.set:
            x[index] = operands[1]
        else:
            x[index] += operands[1]
        return [x]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """x gets g (zeroed over the region when it was overwritten); y gets g's region, summed
        over the axes along which y was broadcast."""
        (g,) = output_grads
        x, y = self.operands[0], self.operands[1]
        rest: list[Value | None] = [None] * (len(self.operands) - 2)
        if g is None or not x.type.dtype.is_float:
            return [None, None, *rest]
        spec = self.spec
        scalars = self.operands[2:]
        region = builder.op("tx.subtensor", g, *scalars, spec=spec)
        if self.set:
            zero = builder.constant(0.0, g.type.dtype)
            gx = builder.op("tx.inc_subtensor", g, zero, *scalars, spec=spec, set=True)
        else:
            gx = g
        return [gx, like(builder, builder.sum_to(region, y.type), y), *rest]


class Reshape(Operation):
    name = "tx.reshape"
    traits = frozenset({PURE})
    arity = at_least(1)  # the tensor, then the shape's scalar operands
    shape = attr(tuple)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        source, *scalars = operand_types
        entries = _shape_entries(cls.name, attributes, len(scalars), infer=True)
        _check_scalar_ints(cls.name, scalars, "sizes")
        shape: list[int | None] = [None if e == OPERAND or e == -1 else int(e) for e in entries]
        known = [d for d in shape if d is not None]
        if source.is_static:
            total = int(np.prod([d or 0 for d in source.shape], dtype=np.int64))
            if -1 in entries and len(known) == len(shape) - 1:
                rest = int(np.prod(known, dtype=np.int64))
                if rest == 0 or total % rest:
                    raise TcValueError(f"{cls.name}: cannot reshape {source} to {list(entries)}")
                shape[entries.index(-1)] = total // rest
            if None not in shape and int(np.prod([d or 0 for d in shape], dtype=np.int64)) != total:
                raise TcValueError(f"{cls.name}: cannot reshape {source} to {list(entries)}")
        return [source.with_shape(shape)]

    @property
    def shape_entries(self) -> list[int | str]:
        return _shape_entries(self.name, self.attributes, len(self.operands) - 1, infer=True)

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        x = np.asarray(operands[0])
        if any(int(s) < 0 for s in operands[1:]):  # only a literal -1 is inferred
            raise TcValueError(f"{self.name}: negative size in {[int(s) for s in operands[1:]]}")
        try:
            return [np.array(x.reshape(_fill_shape(self.shape_entries, operands[1:])))]
        except ValueError as err:
            raise TcValueError(f"{self.name}: {err}") from None

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        (g,) = output_grads
        x = self.operands[0]
        rest: list[Value | None] = [None] * (len(self.operands) - 1)
        if g is None or not x.type.dtype.is_float:
            return [None, *rest]
        shape, dims = static_or_operand_shape(builder, x)
        return [builder.op("tx.reshape", g, *dims, shape=shape), *rest]


def dim_value(builder: Builder, x: Value, axis: int) -> int | Value:
    """The size of `x` along `axis`: an int when static, else an int64 scalar value."""
    static = x.type.shape[axis]
    if static is not None:
        return static
    shape = builder.op("tx.shape", x)
    return builder.op("tx.subtensor", shape, spec=(str(axis),))


def like(builder: Builder, g: Value, operand: Value) -> Value:
    """`g` with exactly `operand`'s type: a size known on one side only is a reshape away."""
    if g.type == operand.type:
        return g
    shape, dims = static_or_operand_shape(builder, operand)
    return builder.op("tx.reshape", g, *dims, shape=shape)


def static_or_operand_shape(builder: Builder, x: Value) -> tuple[tuple[int | str, ...], list[Value]]:
    """`x`'s shape as a shape attribute plus the operands its `$` entries take."""
    entries: list[int | str] = []
    dims: list[Value] = []
    for axis in range(x.type.rank):
        d = dim_value(builder, x, axis)
        if isinstance(d, int):
            entries.append(d)
        else:
            entries.append(OPERAND)
            dims.append(d)
    return tuple(entries), dims


def joined_length(sizes: Sizes[S], lengths: Sequence[S]) -> S:
    """The joined axis of a concatenation: its parts' lengths added, in any evaluator's sizes
    (ir/sizes.py): the type's, the shape plan's and codegen's."""
    total = lengths[0]
    for length in lengths[1:]:
        total = sizes.add(total, length)
    return total


class Concatenate(Operation):
    name = "tx.concatenate"
    traits = frozenset({PURE, FRESH})
    arity = at_least(1)
    axis = attr(int)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        axis = attributes["axis"]
        assert isinstance(axis, int)
        first = operand_types[0]
        if not 0 <= axis < first.rank:
            raise TcValueError(f"{cls.name}: axis {axis} is out of range for {first}")
        shape: list[int | None] = []
        for a in range(first.rank):
            dims = []
            for t in operand_types:
                if t.rank != first.rank or t.dtype is not first.dtype:
                    raise TcTypeError(f"{cls.name}: cannot join {first} and {t} (same dtype and rank needed)")
                dims.append(t.shape[a])
            if a == axis:
                shape.append(joined_length(STATIC, dims))
                continue
            known = {d for d in dims if d is not None}
            if len(known) > 1:
                raise TcTypeError(
                    f"{cls.name}: all sizes but axis {axis} must match, found "
                    + " and ".join(str(t) for t in operand_types)
                )
            shape.append(known.pop() if known else None)
        return [first.with_shape(shape)]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        try:
            return [np.concatenate([np.asarray(o) for o in operands], axis=self.axis)]
        except ValueError as err:
            raise TcValueError(f"{self.name}: {err}") from None

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """Each operand gets its own stretch of g along the axis."""
        (g,) = output_grads
        if g is None or not g.type.dtype.is_float:
            return [None] * len(self.operands)
        grads: list[Value | None] = []
        start: int | Value = 0
        lead = [":"] * self.axis
        for x in self.operands:
            size = dim_value(builder, x, self.axis)
            stop: int | Value
            if isinstance(start, int) and isinstance(size, int):
                stop = start + size
            else:
                stop = builder.op("tx.add", *_as_i64(builder, start, size))
            bounds = [b for b in (start, stop) if not isinstance(b, int)]
            text = ":".join(str(b) if isinstance(b, int) else OPERAND for b in (start, stop))
            grads.append(like(builder, builder.op("tx.subtensor", g, *bounds, spec=(*lead, text)), x))
            start = stop
        return grads


def _as_i64(builder: Builder, *values: int | Value) -> list[Value]:
    return [
        builder.constant(v, DType.I64) if isinstance(v, int) else builder.cast(v, DType.I64) for v in values
    ]


class Arange(Operation):
    name = "tx.arange"
    traits = frozenset({PURE, FRESH})
    arity = 3  # start, stop, step
    dtype = attr(str, convert=DType)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        dtype = DType(attributes["dtype"])
        if any(t.rank != 0 or t.dtype.is_bool for t in operand_types):
            raise TcTypeError(
                f"{cls.name} takes three numeric scalars (start, stop, step), found "
                + ", ".join(str(t) for t in operand_types)
            )
        if dtype.is_bool:
            raise TcTypeError(f"{cls.name}: cannot make a range of {dtype}")
        return [TensorType(dtype, (None,))]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        start, stop, step = (o[()] for o in operands)
        if step == 0:
            raise TcValueError(f"{self.name}: the step must not be zero")
        return [np.arange(start, stop, step).astype(self.dtype.numpy)]  # type: ignore[call-overload]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        return [None, None, None]  # piecewise constant in its operands


class Alloc(Operation):
    name = "tx.alloc"
    traits = frozenset({PURE, FRESH})
    arity = at_least(1)  # the value, then the shape's scalar operands
    shape = attr(tuple)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        value, *scalars = operand_types
        entries = _shape_entries(cls.name, attributes, len(scalars), infer=False)
        _check_scalar_ints(cls.name, scalars, "sizes")
        result = value.with_shape([None if e == OPERAND else int(e) for e in entries])
        check_broadcast_into(cls.name, value, result)
        return [result]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        shape = _fill_shape(
            _shape_entries(self.name, self.attributes, len(operands) - 1, False), operands[1:]
        )
        try:
            return [np.array(np.broadcast_to(operands[0], shape))]
        except ValueError as err:
            raise TcValueError(f"{self.name}: {err}") from None

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        (g,) = output_grads
        value = self.operands[0]
        rest: list[Value | None] = [None] * (len(self.operands) - 1)
        if g is None or not value.type.dtype.is_float:
            return [None, *rest]
        return [like(builder, builder.sum_to(g, value.type), value), *rest]
