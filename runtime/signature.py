"""How a compiled function's arguments are given: by position or by keyword, with defaults.

Theano's `In(variable, value=..., name=...)` gives an input a default value and
the name it is called by (`f(x, lr=0.5)`); an input without an `In` is called
by its variable's name. Positional calls that give every argument never come
here (the call paths check the count first), so defaults cost nothing there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import TcTypeError, TensorType
from ..ir.errors import TcError
from .arguments import Converter, make_converter


class _Missing:
    def __repr__(self) -> str:
        return "<no default>"


MISSING = _Missing()
_AMBIGUOUS = -1


class Signature:
    """Each input's name, the keywords that address it and its default (or MISSING)."""

    def __init__(self, function: str, names: Sequence[str]) -> None:
        self.function = function
        self.names = list(names)
        self.defaults: list[object] = [MISSING] * len(self.names)
        self.keywords: dict[str, int] = {}
        for position, name in enumerate(self.names):
            self._add_keyword(name, position)

    def _add_keyword(self, name: str | None, position: int) -> None:
        if not name:
            return
        known = self.keywords.get(name)
        if known is None or known == position:
            self.keywords[name] = position
        else:
            self.keywords[name] = _AMBIGUOUS  # Theano: a name two inputs share is no keyword

    def rename(self, position: int, name: str, aliases: Sequence[str | None] = ()) -> None:
        """Call input `position` `name` (and also by its `aliases`, such as its variable's name)."""
        old = self.names[position]
        if self.keywords.get(old) == position:
            del self.keywords[old]
        self.names[position] = name
        for keyword in (name, *aliases):
            self._add_keyword(keyword, position)

    def describe(self) -> str:
        """'x, lr=0.1': the inputs as a Python signature shows them."""
        parts = []
        for name, default in zip(self.names, self.defaults, strict=True):
            parts.append(name if default is MISSING else f"{name}={_short(default)}")
        return ", ".join(parts)

    def complete(self, args: tuple[object, ...], kwargs: dict[str, object]) -> tuple[object, ...]:
        """The arguments in input order: positional ones, then keywords, then defaults."""
        count = len(self.names)
        if len(args) > count:
            raise TcTypeError(
                f"function '{self.function}' takes {self._count_text()} argument(s) ({self.describe()}), "
                f"found {len(args)}"
            )
        merged: list[object] = list(args) + [MISSING] * (count - len(args))
        for key, value in kwargs.items():
            position = self.keywords.get(key)
            if position is None:
                raise TcTypeError(
                    f"function '{self.function}' has no input named '{key}' (its inputs: {self.describe()})"
                )
            if position == _AMBIGUOUS:
                raise TcTypeError(
                    f"function '{self.function}': the input name '{key}' is ambiguous (several inputs "
                    "are called that); pass those inputs by position"
                )
            if merged[position] is not MISSING:
                how = "by position and by keyword" if position < len(args) else "twice"
                raise TcTypeError(f"function '{self.function}' got input '{self.names[position]}' {how}")
            merged[position] = value
        for position, value in enumerate(merged):
            if value is MISSING:
                merged[position] = self.defaults[position]
        missing = [self.names[i] for i, v in enumerate(merged) if v is MISSING]
        if missing:
            keywords = f" and keyword(s) {', '.join(sorted(kwargs))}" if kwargs else ""
            raise TcTypeError(
                f"function '{self.function}' takes {self._count_text()} argument(s) ({self.describe()}), "
                f"found {len(args)}{keywords}; missing input(s) {', '.join(missing)}"
            )
        return tuple(merged)

    def _count_text(self) -> str:
        required = sum(1 for d in self.defaults if d is MISSING)
        count = len(self.names)
        return str(count) if required == count else f"{required} to {count}"


def input_converter(
    name: str,
    expected: TensorType,
    allow_downcast: bool,
    float_x: str,
    compiled_by: str,
    strict: bool = False,
) -> Converter:
    """The argument converter of one input; `strict` (Theano's In(strict=True)) takes only
    arrays and numpy scalars of the input's own dtype, converting nothing."""
    convert = make_converter(name, expected, allow_downcast, float_x, compiled_by)
    if not strict:
        return convert
    dtype = expected.dtype.numpy

    def convert_strict(value: object) -> np.ndarray:
        if not (isinstance(value, (np.ndarray, np.generic)) and value.dtype == dtype):
            found = f"dtype {value.dtype}" if isinstance(value, (np.ndarray, np.generic)) else repr(value)
            raise TcTypeError(
                f"argument '{name}' is strict (tc.In(strict=True)): expects an array of {dtype}, "
                f"found {found}"
            )
        return convert(value)

    return convert_strict


def convert_default(name: str, value: object, convert: Converter, compiled_by: str) -> object:
    """An input's default converted once, when the function is made: a read-only array, or
    for a scalar the numpy scalar (which the scalar fast paths take as it is)."""
    try:
        array = convert(value)
    except TcError as err:
        raise type(err)(
            f"{compiled_by}: the default value of input '{name}' (tc.In(value={_short(value)})) does not "
            f"fit the input: {err}"
        ) from err
    if array.ndim == 0:
        return array[()]
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


def _short(value: object) -> str:
    if isinstance(value, np.generic):
        text = repr(value.item())
    elif isinstance(value, np.ndarray):
        text = f"array({np.array2string(value, threshold=6, separator=', ')})"
    else:
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
