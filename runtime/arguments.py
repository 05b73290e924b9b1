"""Turn a Python value into the array an input expects, with Theano's casting rules.

A value converts without a word when no information is lost: an array of a
dtype that casts safely, or Python numbers whose values survive exactly. A
lossy conversion is a TcTypeError unless the function was compiled with
`allow_input_downcast=True`. Errors name the argument, what was expected and
what was found.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..ir import TcShapeError, TcTypeError, TcValueError, TensorType

Converter = Callable[[object], np.ndarray]


def make_converter(
    name: str, expected: TensorType, allow_downcast: bool, float_x: str, compiled_by: str = "tc.function"
) -> Converter:
    """A function value -> ndarray for the input `name` of type `expected` (hot path: keep it lean).
    `compiled_by` is the call that takes allow_input_downcast=True, for the error's hint."""
    dtype = expected.dtype.numpy
    rank = expected.rank
    static = expected.shape
    has_static = any(d is not None for d in static)

    def convert(value: object) -> np.ndarray:
        if isinstance(value, np.ndarray):
            array = value
            if array.dtype != dtype:
                array = _cast_array(name, array, dtype, allow_downcast, compiled_by)
        else:
            array = _convert_python(name, value, dtype, allow_downcast, float_x, compiled_by)
        if array.ndim != rank:
            raise TcTypeError(
                f"argument '{name}' must have rank {rank} ({expected}), found rank {array.ndim} "
                f"with shape {array.shape}"
            )
        if has_static and not expected.accepts_shape(array.shape):
            raise TcShapeError(f"argument '{name}' must have shape {expected}, found shape {array.shape}")
        if not (array.flags.aligned and array.dtype.isnative):
            array = np.array(array, dtype=dtype)
        return array

    return convert


def _cast_array(
    name: str, array: np.ndarray, dtype: np.dtype, allow_downcast: bool, compiled_by: str
) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise TcValueError(f"argument '{name}' must be numeric ({dtype}), found dtype {array.dtype}")
    if not allow_downcast and not np.can_cast(array.dtype, dtype, "safe"):
        raise TcTypeError(
            f"argument '{name}' expects {dtype} but got an array of {array.dtype}, which would lose "
            f"precision; cast it yourself or pass allow_input_downcast=True to {compiled_by}"
        )
    return array.astype(dtype)


def _convert_python(
    name: str, value: object, dtype: np.dtype, allow_downcast: bool, float_x: str, compiled_by: str
) -> np.ndarray:
    try:
        original = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as err:
        raise TcValueError(f"argument '{name}' must be numeric ({dtype}), found {value!r}") from err
    if holds_huge_ints(original):
        raise _out_of_range(name, value, dtype)
    if original.dtype.kind not in "biuf":
        raise TcValueError(
            f"argument '{name}' must be numeric ({dtype}), found {type(value).__name__} {value!r}"
        )
    if original.dtype == dtype:
        return original
    if isinstance(value, np.generic):
        return _cast_array(name, original, dtype, allow_downcast, compiled_by)
    with np.errstate(all="ignore"):
        converted = original.astype(dtype)
    exact = converts_exactly(original, converted)
    # Theano lets a Python float into a floatX input even when it rounds.
    rounds_to_float_x = original.dtype.kind == "f" and dtype.kind == "f" and dtype.name == float_x
    if exact or allow_downcast or rounds_to_float_x:
        return converted
    if original.dtype.kind in "iu" and dtype.kind in "iu":
        raise _out_of_range(name, value, dtype)
    raise TcTypeError(
        f"argument '{name}' expects {dtype}, but {value!r} cannot be stored in it exactly; "
        f"pass allow_input_downcast=True to {compiled_by} to allow it"
    )


def _out_of_range(name: str, value: object, dtype: np.dtype) -> TcTypeError:
    info = np.iinfo(dtype)
    return TcTypeError(
        f"argument '{name}' expects {dtype}, but {value!r} is outside its range [{info.min}, {info.max}]"
    )


def holds_huge_ints(array: np.ndarray) -> bool:
    """Whether numpy made an object array of Python ints too large for any integer dtype."""
    return array.dtype == object and array.size > 0 and all(type(v) is int for v in array.flat)


def converts_exactly(original: np.ndarray, converted: np.ndarray) -> bool:
    """Whether `converted` holds exactly the values of `original` (Python numbers made arrays).

    A round trip alone cannot tell: 2**63 arrives as uint64 and survives a
    round trip through int64 bit for bit, so integers are checked against the
    target's range first."""
    if original.size == 0:
        return True
    if original.dtype.kind in "iu" and converted.dtype.kind in "iu":
        info = np.iinfo(converted.dtype)
        return info.min <= int(original.min()) and int(original.max()) <= info.max
    with np.errstate(all="ignore"):
        back = converted.astype(original.dtype)
    if original.dtype.kind == "f":
        return bool(np.all((back == original) | (np.isnan(original) & np.isnan(back))))
    return bool(np.all(back == original))
