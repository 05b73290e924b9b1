"""Subtensor specs and shape attributes: parsing, types and numpy indices (see ir/ops/shape.py).

A spec entry is an integer index (`"3"`, `"-1"`, `"$"`) or a slice
`start:stop:step` whose start and stop are empty, integer literals or `"$"`
(the next scalar operand) and whose step is a literal; a shape attribute lists
sizes, `"$"` entries and (for reshape) one -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..attributes import Attribute
from ..errors import TcIndexError, TcTypeError, TcValueError
from ..types import TensorType

OPERAND = "$"  # an entry whose value is the next scalar operand
Bound = int | str | None  # a literal, OPERAND, or None for the default


@dataclass(frozen=True)
class IndexEntry:
    """An integer index on one axis (the axis is dropped)."""

    index: int | str


@dataclass(frozen=True)
class SliceEntry:
    start: Bound
    stop: Bound
    step: int

    @property
    def is_full(self) -> bool:
        return self.start is None and self.stop is None and self.step == 1


Entry = IndexEntry | SliceEntry


def _bound(text: str, where: str) -> Bound:
    text = text.strip()
    if text == "":
        return None
    if text == OPERAND:
        return OPERAND
    try:
        return int(text)
    except ValueError:
        raise TcTypeError(f"{where}: '{text}' is not an integer, '$' or empty") from None


def parse_spec(spec: Sequence[Attribute], where: str = "tx.subtensor") -> list[Entry]:
    """The entries of a subtensor spec attribute (see the module docstring)."""
    entries: list[Entry] = []
    for item in spec:
        if not isinstance(item, str):
            raise TcTypeError(f"{where}: spec entries are strings, found {item!r}")
        if ":" not in item:
            bound = _bound(item, where)
            if bound is None:
                raise TcTypeError(f"{where}: an empty index in spec {list(spec)}")
            entries.append(IndexEntry(bound))
            continue
        parts = item.split(":")
        if len(parts) > 3:
            raise TcTypeError(f"{where}: '{item}' is not a slice start:stop:step")
        step = _bound(parts[2], where) if len(parts) == 3 else None
        if step == OPERAND or step == 0:
            raise TcTypeError(f"{where}: a slice step must be a non-zero integer literal, found '{item}'")
        entries.append(SliceEntry(_bound(parts[0], where), _bound(parts[1], where), int(step or 1)))
    return entries


def format_entry(entry: Entry) -> str:
    """The spec text of one entry (the inverse of parse_spec)."""

    def text(b: Bound) -> str:
        return "" if b is None else str(b)

    if isinstance(entry, IndexEntry):
        return str(entry.index)
    step = "" if entry.step == 1 else f":{entry.step}"
    return f"{text(entry.start)}:{text(entry.stop)}{step}"


def count_operands(entries: Sequence[Entry]) -> int:
    count = 0
    for e in entries:
        bounds = [e.index] if isinstance(e, IndexEntry) else [e.start, e.stop]
        count += sum(b == OPERAND for b in bounds)
    return count


def _check_scalar_ints(op_name: str, types: Sequence[TensorType], what: str) -> None:
    for t in types:
        if t.rank != 0 or not t.dtype.is_integer or t.dtype.is_bool:
            raise TcTypeError(f"{op_name}: {what} must be integer scalars, found {t}")


def subtensor_type(source: TensorType, entries: Sequence[Entry], where: str) -> TensorType:
    """The type of `source[entries]`; a constant index out of a static range is an error."""
    if len(entries) > source.rank:
        raise TcIndexError(f"{where}: {len(entries)} indices for {source} of rank {source.rank}")
    shape: list[int | None] = []
    for axis, n in enumerate(source.shape):
        entry = entries[axis] if axis < len(entries) else SliceEntry(None, None, 1)
        if isinstance(entry, IndexEntry):
            if isinstance(entry.index, int) and n is not None and not -n <= entry.index < n:
                raise TcIndexError(
                    f"{where}: index {entry.index} is out of bounds for axis {axis} with size {n}"
                )
            continue
        if entry.is_full:
            shape.append(n)
        elif n is not None and OPERAND not in (entry.start, entry.stop):
            shape.append(len(range(*slice(entry.start, entry.stop, entry.step).indices(n))))
        else:
            shape.append(None)
    return source.with_shape(shape)


def numpy_index(entries: Sequence[Entry], scalars: Sequence[np.ndarray]) -> tuple[int | slice, ...]:
    """The numpy index that `entries` stands for, with operand values filled in."""
    values = iter(int(s) for s in scalars)

    def value(b: Bound) -> int | None:
        return next(values) if b == OPERAND else b  # type: ignore[return-value]

    index: list[int | slice] = []
    for e in entries:
        if isinstance(e, IndexEntry):
            index.append(value(e.index))  # type: ignore[arg-type]
        else:
            index.append(slice(value(e.start), value(e.stop), e.step))
    return tuple(index)


def _checked_index(x: np.ndarray, index: tuple[int | slice, ...], where: str) -> tuple[int | slice, ...]:
    for axis, i in enumerate(index):
        if isinstance(i, int) and not -x.shape[axis] <= i < x.shape[axis]:
            raise TcIndexError(
                f"{where}: index {i} is out of bounds for axis {axis} with size {x.shape[axis]}"
            )
    return index


def check_broadcast_into(op_name: str, values: TensorType, target: TensorType) -> None:
    """`values` must broadcast to `target` (static sizes: equal or 1; `?` is checked at run time)."""
    if values.rank > target.rank:
        raise TcTypeError(f"{op_name}: values of {values} do not fit a region of {target}")
    for v, t in zip(values.shape, target.shape[target.rank - values.rank :], strict=True):
        if v is not None and t is not None and v != 1 and v != t:
            raise TcTypeError(f"{op_name}: values of {values} do not broadcast to a region of {target}")


def _shape_entries(
    op_name: str, attributes: dict[str, Attribute], operands: int, infer: bool
) -> list[int | str]:
    shape = attributes["shape"]
    assert isinstance(shape, tuple)
    entries: list[int | str] = []
    for entry in shape:
        if entry == OPERAND or (
            isinstance(entry, int) and not isinstance(entry, bool) and entry >= -int(infer)
        ):
            entries.append(entry)  # type: ignore[arg-type]
        else:
            raise TcTypeError(
                f"{op_name}: shape entry {entry!r} is not a size, '$'" + (" or -1" if infer else "")
            )
    if entries.count(-1) > 1:
        raise TcValueError(f"{op_name}: shape {list(shape)} has more than one -1")
    if entries.count(OPERAND) != operands:
        raise TcTypeError(
            f"{op_name}: shape {list(shape)} takes {entries.count(OPERAND)} scalar operand(s), "
            f"found {operands}"
        )
    return entries


def _fill_shape(entries: Sequence[int | str], scalars: Sequence[np.ndarray]) -> list[int]:
    values = iter(int(s) for s in scalars)
    return [next(values) if e == OPERAND else int(e) for e in entries]
