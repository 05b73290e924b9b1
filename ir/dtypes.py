"""Element types of tc tensors.

A DType is the IR's own name for a numpy dtype (`f64`, `i32`, `bool`, ...);
the IR, the builder and the backends all speak in these, and numpy is only
reached through `DType.numpy`.
"""

from __future__ import annotations

import enum

import numpy as np

from .errors import TcTypeError


class DType(enum.Enum):
    """An element type; the value is the IR spelling."""

    BOOL = "bool"
    I8 = "i8"
    I16 = "i16"
    I32 = "i32"
    I64 = "i64"
    U8 = "u8"
    F32 = "f32"
    F64 = "f64"

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(_TO_NUMPY[self])

    @property
    def theano_name(self) -> str:
        """The name Theano and numpy users know (`float64`, `int32`, ...)."""
        return _TO_NUMPY[self]

    @property
    def is_float(self) -> bool:
        return self in (DType.F32, DType.F64)

    @property
    def is_integer(self) -> bool:
        return self in (DType.I8, DType.I16, DType.I32, DType.I64, DType.U8)

    @property
    def is_signed(self) -> bool:
        return self in (DType.I8, DType.I16, DType.I32, DType.I64, DType.F32, DType.F64)

    @property
    def is_bool(self) -> bool:
        return self is DType.BOOL

    @property
    def bits(self) -> int:
        return 1 if self is DType.BOOL else self.numpy.itemsize * 8

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    def __str__(self) -> str:
        return self.value

    @staticmethod
    def parse(name: str) -> DType:
        """Accept IR spellings (`f64`), numpy names (`float64`) and numpy dtypes."""
        key = str(name)
        found = _BY_IR_NAME.get(key) or _BY_NUMPY_NAME.get(key)  # (numpy's dtype names: 30 us first)
        if found is not None:
            return found
        try:
            return _BY_NUMPY_NAME[np.dtype(name).name]
        except (TypeError, KeyError, ValueError) as err:  # ValueError: an object with a `.dtype`
            supported = ", ".join(d.theano_name for d in DType)
            raise TcTypeError(f"unsupported dtype {name!r}; expected one of {supported}") from err

    @staticmethod
    def from_numpy(dtype: np.dtype) -> DType:
        try:
            found = _BY_NUMPY_DTYPE.get(dtype)  # (a dtype's `name` is computed in Python, 2 us)
        except TypeError:  # unhashable: a structured dtype's description, say (refused below)
            found = None
        return found if found is not None else DType.parse(np.dtype(dtype).name)


_TO_NUMPY = {
    DType.BOOL: "bool",
    DType.I8: "int8",
    DType.I16: "int16",
    DType.I32: "int32",
    DType.I64: "int64",
    DType.U8: "uint8",
    DType.F32: "float32",
    DType.F64: "float64",
}
_BY_IR_NAME = {d.value: d for d in DType}
_BY_NUMPY_NAME = {name: d for d, name in _TO_NUMPY.items()}
_BY_NUMPY_DTYPE = {np.dtype(name): d for name, d in _BY_NUMPY_NAME.items()}
