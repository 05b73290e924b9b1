"""Attribute values carried by ops: compile-time data, hashable for CSE.

Plain Python scalars, strings and tuples are attributes as they are; arrays
are wrapped in DenseAttr (numpy arrays are neither hashable nor comparable
with ==), and symbol references in SymbolRef.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, overload

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

T = TypeVar("T")
R = TypeVar("R")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class _HasAttributes(Protocol):
    attributes: dict[str, Attribute]


class Attr(Generic[R]):
    """A declared op attribute: `axes = attr(tuple, convert=int_tuple)` on an op class.

    Declaring it registers the attribute's key and Python type in the class's
    `attribute_types` (which the verifier checks), and makes `op.axes` a typed,
    read-only accessor of `op.attributes["axes"]` (passed through `convert`, if
    given). An attribute with a default is optional: an op built without it
    gets the default in its attribute dict. `axis_of=k` says the attribute is an
    axis of operand k, for the generated frontend builders (frontend/generated.py):
    there a negative axis counts from the end and None flattens operand k first
    (numpy's `axis=None`); the op itself sees only 0 <= axis < rank.
    """

    __slots__ = ("kind", "key", "convert", "default", "axis_of", "name")

    def __init__(
        self,
        kind: type | tuple[type, ...],
        key: str | None = None,
        convert: Callable[[Any], R] | None = None,
        default: Any = MISSING,
        axis_of: int | None = None,
    ) -> None:
        self.kind = kind
        self.key = key or ""
        self.convert = convert
        self.default = default
        self.axis_of = axis_of
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        if not self.key:
            self.key = name

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING

    @overload
    def __get__(self, instance: None, owner: type) -> Attr[R]: ...

    @overload
    def __get__(self, instance: _HasAttributes, owner: type) -> R: ...

    def __get__(self, instance: _HasAttributes | None, owner: type) -> Attr[R] | R:
        if instance is None:
            return self
        value: Any = instance.attributes[self.key]
        return value if self.convert is None else self.convert(value)

    def __set__(self, instance: object, value: object) -> None:
        raise AttributeError(f"attribute '{self.name}' is read-only; set op.attributes[{self.key!r}]")

    def __repr__(self) -> str:
        return f"attr({self.kind!r}, key={self.key!r})"


@overload
def attr(
    kind: type[T], *, key: str | None = None, default: T = MISSING, axis_of: int | None = None
) -> Attr[T]: ...


@overload
def attr(
    kind: type[T],
    *,
    convert: Callable[[T], R],
    key: str | None = None,
    default: T = MISSING,
    axis_of: int | None = None,
) -> Attr[R]: ...


@overload
def attr(
    kind: tuple[type, ...],
    *,
    convert: Callable[[Any], R],
    key: str | None = None,
    default: Any = MISSING,
    axis_of: int | None = None,
) -> Attr[R]: ...


@overload
def attr(
    kind: tuple[type, ...], *, key: str | None = None, default: Any = MISSING, axis_of: int | None = None
) -> Attr[Any]: ...


def attr(
    kind: type | tuple[type, ...],
    *,
    convert: Callable[[Any], Any] | None = None,
    key: str | None = None,
    default: Any = MISSING,
    axis_of: int | None = None,
) -> Attr[Any]:
    """Declare an op attribute of Python type `kind` (see Attr); `key` is its name in the
    attribute dict when that differs from the accessor's, `convert` maps the stored value
    to what the accessor returns, `default` makes the attribute optional, `axis_of=k` marks
    it as an axis of operand k (for the generated frontend builders)."""
    return Attr(kind, key, convert, default, axis_of)


def int_tuple(value: tuple[Any, ...]) -> tuple[int, ...]:
    """An attribute list of integers (`axes = [0, 1]`) as ints."""
    return tuple(int(v) for v in value)


def str_tuple(value: tuple[Any, ...]) -> tuple[str, ...]:
    """An attribute list of strings (`kinds = ["sum", "max"]`) as strs."""
    return tuple(str(v) for v in value)


def symbol_name(ref: SymbolRef) -> str:
    """A symbol attribute (`@W`) as the symbol's name (`"W"`)."""
    return ref.name


def dense_array(value: DenseAttr) -> np.ndarray:
    """A dense attribute as its (read-only) array."""
    return value.array


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
