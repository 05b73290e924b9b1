"""Attribute values carried by ops: compile-time data, hashable for CSE.

Plain Python scalars, strings and tuples are attributes as they are; arrays
are wrapped in DenseAttr (numpy arrays are neither hashable nor comparable
with ==), and symbol references in SymbolRef.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dtypes import DType
from .types import TensorType


class DenseAttr:
    """An immutable array constant (`dense<[1.0, 2.0]>`)."""

    __slots__ = ("array", "_key")

    def __init__(self, array: np.ndarray) -> None:
        arr = np.array(array, copy=True)
        arr.setflags(write=False)
        self.array = arr
        self._key = (arr.dtype.str, arr.shape, arr.tobytes())

    @property
    def type(self) -> TensorType:
        return TensorType(DType.from_numpy(self.array.dtype), tuple(self.array.shape))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DenseAttr) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def literal(self) -> str:
        """The text between `dense<` and `>`: exact, so that parsing gives the same bits. An
        empty array of any shape is `[]` (nested lists could not say its trailing sizes)."""
        return "[]" if self.array.size == 0 else _literal(self.array)

    def __repr__(self) -> str:
        return f"dense<{self.literal()}>"


@dataclass(frozen=True)
class SymbolRef:
    """A reference to a module-level symbol (`@W`)."""

    name: str

    def __str__(self) -> str:
        return f"@{self.name}"


Attribute = int | float | bool | str | DenseAttr | SymbolRef | TensorType | DType | tuple


def format_scalar(value: np.generic) -> str:
    """Shortest text that reads back to the same value in the value's own dtype."""
    if isinstance(value, np.bool_):
        return "true" if value else "false"
    if isinstance(value, np.floating):
        text = str(value)
        if text in ("nan", "inf", "-inf") or any(c in text for c in ".e"):
            return text
        return text + ".0"
    return str(int(value))


def _literal(arr: np.ndarray) -> str:
    if arr.ndim == 0:
        return format_scalar(arr[()])  # type: ignore[arg-type]  # a 0-d index gives a numpy scalar
    return "[" + ", ".join(_literal(sub) for sub in arr) + "]"


def format_attribute(value: Attribute) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_scalar(np.float64(value))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, DenseAttr):
        return f"dense<{value.literal()}> : {value.type}"
    if isinstance(value, (SymbolRef, TensorType, DType)):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(format_attribute(v) for v in value) + "]"
    raise TypeError(f"not an attribute: {value!r}")
