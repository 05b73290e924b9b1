"""tc's configuration: one shared object, re-exported as `tc.config`.

Kept in the frontend because the builder is the first thing that reads it
(`T.matrix()` takes its dtype from `floatX`); every later stage sees the same
object through `tc.config`.
"""

from __future__ import annotations

from typing import Any

from ..ir.errors import TcValueError

_FLOAT_DTYPES = ("float32", "float64")


class Config:
    """Theano's `config`: attributes that change defaults, validated on assignment."""

    floatX: str

    def __init__(self) -> None:
        self.floatX = "float64"

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "floatX" and value not in _FLOAT_DTYPES:
            raise TcValueError(f"config.floatX must be one of {_FLOAT_DTYPES}, found {value!r}")
        super().__setattr__(key, value)

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()))
        return f"Config({items})"


config = Config()

__all__ = ["Config", "config"]
