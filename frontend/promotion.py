"""Dtype promotion: the one place that decides the dtype an elementwise op works in.

The IR requires every operand of an elementwise op to have the same dtype
(except `tx.select`'s bool condition), so the builder settles the dtype here
and inserts `tx.cast`s. The rules, in order:

1. numpy 2 (NEP 50) `result_type` over the operands. Variables, numpy arrays
   and numpy scalars are *strong*: their dtype counts. Python `bool`, `int` and
   `float` are *weak*: they take the other operands' dtype when they can
   (`int8 + 1 -> int8`, `float32 + 1.0 -> float32`) and otherwise follow
   numpy (`int8 + 1.5 -> float64`, `bool + 1 -> int64`). A Python int that
   does not fit the result (`int8 + 300`) is an error, as in numpy; in a
   comparison it widens the dtype instead, so `int8 < 300` is simply true.
   When every operand is a Python scalar, numpy's choice stands except that
   a float result is `floatX`, as `T.constant(1.5)` is (`1 + 2 -> int64`).
2. Ops defined only on floats (the IR op class `accepts` only f32/f64: sin,
   exp, true division, arctan2, sigmoid, ...) upgrade an integer or bool
   result the way Theano does: bool/int8/uint8/int16 -> float32 and
   int32/int64 -> float64. This is where tc differs from numpy, which gives
   float16 for small integers (tc has no float16).
3. Bool operands of ops that have no bool form follow numpy: `-x` and `x - y`
   on bools, and `sign`, are type errors; `abs`, `floor`, `ceil` and `round`
   leave a bool unchanged; the rest (`//`, `%`, `**`, `sqr`) compute in int8.
   Bool `+` and `*` need nothing: the IR defines them as or / and.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.core import Operation
from ..ir.dtypes import DType
from ..ir.errors import TcTypeError, TcValueError
from ..ir.ops import elementwise as ew
from .config import config
from .graph import Constant, Variable, as_tensor_variable, cast_to, located

# Theano's upgrade_to_float: the narrowest float that holds every value exactly.
FLOAT_UPGRADE = {
    DType.BOOL: DType.F32,
    DType.I8: DType.F32,
    DType.U8: DType.F32,
    DType.I16: DType.F32,
    DType.I32: DType.F64,
    DType.I64: DType.F64,
}

# Ops without a bool form that numpy nevertheless defines on bools as the identity.
IDENTITY_ON_BOOL: frozenset[type[Operation]] = frozenset(
    {ew.Abs, ew.Floor, ew.Ceil, ew.RoundHalfEven, ew.RoundHalfAway}
)

# Ops numpy refuses on bools, with numpy's advice.
_BOOL_REJECTED: dict[type[Operation], str] = {
    ew.Sub: "boolean subtract (the `-` operator) is not supported, as in numpy; use `^` (T.xor) instead",
    ew.Neg: "boolean negative (the `-` operator) is not supported, as in numpy; use `~` (T.invert) instead",
    ew.Sign: "sign is not defined on bool, as in numpy",
}

_WEAK = (bool, int, float)

Operand = Any  # a Variable, or anything as_tensor_variable accepts


def _is_weak(value: object) -> bool:
    # numpy scalars subclass Python's float/int in places (np.float64), but are strong.
    return isinstance(value, _WEAK) and not isinstance(value, np.generic)


def result_dtype(operands: Sequence[Variable | bool | int | float]) -> DType:
    """numpy 2's result_type, with Python scalars weak (rule 1 above)."""
    strong = [v.type.dtype.numpy for v in operands if isinstance(v, Variable)]
    weak = [v for v in operands if not isinstance(v, Variable)]
    try:
        found = np.result_type(*strong, *weak)
    except TypeError as err:
        raise TcTypeError(f"no common dtype for {operands!r}: {err}") from None
    if not strong and found.kind == "f":
        # Python scalars alone: a float result is floatX, as T.constant(1.5) is.
        return DType.parse(config.floatX)
    return DType.from_numpy(found)


def op_dtype(op_class: type[Operation], operands: Sequence[Variable | bool | int | float]) -> DType:
    """The dtype `op_class` computes in for these operands (rules 1-3 above)."""
    dtype = result_dtype(operands)
    accepts: frozenset[DType] = getattr(op_class, "accepts", ew.ANY)
    if issubclass(op_class, ew.Comparison):
        dtype = _widen_for_weak_ints(dtype, operands)
    if dtype in accepts:
        return dtype
    if dtype is DType.BOOL and op_class in _BOOL_REJECTED:
        raise TcTypeError(located(f"{op_class.name}: {_BOOL_REJECTED[op_class]}"))
    if accepts <= ew.FLOATS and dtype in FLOAT_UPGRADE:
        return FLOAT_UPGRADE[dtype]
    if dtype is DType.BOOL and DType.I8 in accepts:
        return DType.I8
    # Not promotable (e.g. a float operand of `&`): the IR's type rule reports it.
    return dtype


def _widen_for_weak_ints(dtype: DType, operands: Sequence[object]) -> DType:
    """Comparisons against an out-of-range Python int are well defined: widen to hold it."""
    if not dtype.is_integer:
        return dtype
    for value in operands:
        if _is_weak(value) and isinstance(value, int) and not _fits(value, dtype):
            wider = np.result_type(dtype.numpy, np.min_scalar_type(value))
            dtype = _supported_int(wider) if wider.kind in "iu" else DType.F64
    return dtype


def _supported_int(dtype: np.dtype) -> DType:
    try:
        return DType.from_numpy(dtype)
    except TcTypeError:  # uint16/32/64 have no tc dtype; int64 holds what they held here
        return DType.I64


def _fits(value: int, dtype: DType) -> bool:
    info = np.iinfo(dtype.numpy)
    return int(info.min) <= value <= int(info.max)


def promote(op_class: type[Operation], operands: Sequence[Operand]) -> list[Variable]:
    """The operands as Variables of the one dtype `op_class` computes in, casts inserted."""
    values: list[Variable | bool | int | float] = [
        v if _is_weak(v) else as_tensor_variable(v) for v in operands
    ]
    dtype = op_dtype(op_class, values)
    return [_convert(v, dtype, op_class) for v in values]


def _convert(value: Variable | bool | int | float, dtype: DType, op_class: type[Operation]) -> Variable:
    if isinstance(value, Variable):
        return cast_to(value, dtype)
    if isinstance(value, int) and not isinstance(value, bool) and dtype.is_integer:
        if not _fits(value, dtype):
            raise TcValueError(
                located(
                    f"{op_class.name}: Python integer {value} is out of bounds for {dtype.theano_name} "
                    "(as in numpy; cast the tensor first to compute in a wider dtype)"
                )
            )
    with np.errstate(over="ignore"):  # a weak float beyond float32's range becomes inf, as numpy
        array = np.asarray(value, dtype=dtype.numpy)
    return Constant(array)
