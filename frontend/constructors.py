"""Tensors made from sizes and values: arange, alloc, zeros, ones, zeros_like, ones_like, fill.

Sizes may be ints or integer scalar Variables (`x.shape[0]`, a function
input). With constant arguments the result is a constant.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir.dtypes import DType
from ..ir.errors import TcValueError
from ..ir.ops.elementwise import Fill
from ..ir.ops.shape import Alloc, Arange
from .graph import (
    Constant,
    DTypeSpec,
    TensorLike,
    Variable,
    as_tensor_variable,
    constant,
    located,
    make_apply,
    parse_dtype,
)
from .promotion import result_dtype
from .shape_ops import shape_entries


def arange(
    start: TensorLike, stop: TensorLike | None = None, step: TensorLike = 1, dtype: DTypeSpec = None
) -> Variable:
    """numpy's arange (Theano's T.arange): int64 for integer arguments."""
    if stop is None:
        start, stop = 0, start
    args = [start, stop, step]
    if dtype is None:
        found = result_dtype(args)  # type: ignore[arg-type]
        chosen = DType.I64 if found.is_integer else found
    else:
        chosen = parse_dtype(dtype)
    known = [_known(a) for a in args]
    if all(k is not None for k in known):
        if known[2] == 0:
            raise TcValueError(located("arange: the step must not be zero"))
        return constant(np.arange(*known).astype(chosen.numpy))  # type: ignore[arg-type,call-overload]
    values = [as_tensor_variable(a) for a in args]
    return make_apply(Arange, values, {"dtype": chosen.value}).out


def _known(value: Any) -> Any:
    """The number `value` stands for when it is known now, else None."""
    if isinstance(value, Constant) and value.ndim == 0:
        return value.value[()]
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return value
    return None


def alloc(value: TensorLike, *shape: Any) -> Variable:
    """Theano's alloc: `value` broadcast to `shape` (sizes: ints or integer scalars)."""
    given: Any = list(shape)
    if len(shape) == 1 and (isinstance(shape[0], (list, tuple)) or getattr(shape[0], "ndim", 0) == 1):
        given = shape[0]
    entries, operands = shape_entries(given, "alloc")
    return make_apply(Alloc, [as_tensor_variable(value), *operands], {"shape": entries}).out


def zeros(shape: Any, dtype: DTypeSpec = None) -> Variable:
    """A tensor of zeros of `shape` (an int, a tuple, or a shape vector); floatX by default."""
    return alloc(constant(0, dtype=parse_dtype(dtype)), *_sizes(shape))


def ones(shape: Any, dtype: DTypeSpec = None) -> Variable:
    """A tensor of ones of `shape`; floatX by default."""
    return alloc(constant(1, dtype=parse_dtype(dtype)), *_sizes(shape))


def _sizes(shape: Any) -> list[Any]:
    if isinstance(shape, Variable) and shape.ndim == 1:
        return [shape]
    return list(shape) if isinstance(shape, (list, tuple)) else [shape]


def fill(model: TensorLike, value: TensorLike) -> Variable:
    """Theano's fill: `value` spread over the shape `model` and `value` broadcast to."""
    return make_apply(Fill, [as_tensor_variable(model), as_tensor_variable(value)]).out


second = fill


def zeros_like(x: TensorLike, dtype: DTypeSpec = None) -> Variable:
    """Zeros of `x`'s shape (and dtype, unless `dtype` is given)."""
    model = as_tensor_variable(x)
    return fill(model, constant(0, dtype=model.type.dtype if dtype is None else parse_dtype(dtype)))


def ones_like(x: TensorLike, dtype: DTypeSpec = None) -> Variable:
    """Ones of `x`'s shape (and dtype, unless `dtype` is given)."""
    model = as_tensor_variable(x)
    return fill(model, constant(1, dtype=model.type.dtype if dtype is None else parse_dtype(dtype)))


__all__ = ["alloc", "arange", "fill", "ones", "ones_like", "second", "zeros", "zeros_like"]
