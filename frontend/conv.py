"""`T.nnet.conv2d` and `pool_2d` (Theano's `theano.tensor.signal.pool.pool_2d`): the builders.

They turn Theano's arguments (border modes, subsample, filter_flip, ws/stride/pad/mode)
into the attributes of `tx.conv2d` (ir/ops/conv.py) and `tx.pool_2d` (ir/ops/pool.py);
the op classes check dtypes, ranks and static sizes, so a bad call fails here at the
user's line, and sizes known only at call time are checked before the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.errors import TcShapeError, TcTypeError, TcValueError
from ..ir.ops.conv import Conv2D
from ..ir.ops.pool import MODES, Pool2D
from .graph import TensorLike, Variable, as_tensor_variable, cast_to, located, make_apply
from .promotion import FLOAT_UPGRADE


def _pair(value: Any, what: str, name: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair (Theano accepts both for most of these)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
            return (int(value[0]), int(value[1]))
    raise TcTypeError(located(f"{name}: {what} must be an int or a pair of ints, found {value!r}"))


def _float_operands(*values: TensorLike) -> list[Variable]:
    """The operands as one float dtype: integers become the float that holds them, mixed
    f32/f64 become f64."""
    variables = [as_tensor_variable(v) for v in values]
    variables = [cast_to(v, FLOAT_UPGRADE.get(v.type.dtype, v.type.dtype)) for v in variables]
    dtypes = {v.type.dtype for v in variables}
    if len(dtypes) > 1:
        widest = max(dtypes, key=lambda d: d.itemsize)
        variables = [cast_to(v, widest) for v in variables]
    return variables


def _check_hint(value: Variable, hint: Sequence[int | None] | None, what: str) -> None:
    """input_shape / filter_shape: Theano's hints, checked against the sizes the type knows."""
    if hint is None:
        return
    if not isinstance(hint, (tuple, list)) or not all(h is None or isinstance(h, int) for h in hint):
        raise TcTypeError(located(f"conv2d: {what} must be a tuple of ints (or None), found {hint!r}"))
    hint = tuple(hint)
    if len(hint) != value.ndim:
        raise TcShapeError(located(f"conv2d: {what} {hint} has {len(hint)} entries for a {value.type}"))
    for axis, (h, d) in enumerate(zip(hint, value.type.shape, strict=True)):
        if h is not None and d is not None and h != d:
            raise TcShapeError(
                located(f"conv2d: {what} {hint} says {h} on axis {axis}, the type {value.type}")
            )


def _border(border_mode: Any) -> tuple[str, tuple[int, int]]:
    if isinstance(border_mode, str):
        if border_mode == "valid":
            return "explicit", (0, 0)
        if border_mode in ("full", "half"):
            return border_mode, (0, 0)
        raise TcValueError(
            located(
                "conv2d: border_mode must be 'valid', 'full', 'half', an int or a pair of ints, "
                f"found {border_mode!r}"
            )
        )
    pad = _pair(border_mode, "border_mode", "conv2d")
    if min(pad) < 0:
        raise TcValueError(located(f"conv2d: padding must not be negative, found {border_mode!r}"))
    return "explicit", pad


def conv2d(
    input: TensorLike,
    filters: TensorLike,
    input_shape: Sequence[int | None] | None = None,
    filter_shape: Sequence[int | None] | None = None,
    border_mode: str | int | tuple[int, int] = "valid",
    subsample: tuple[int, int] = (1, 1),
    filter_flip: bool = True,
    image_shape: Sequence[int | None] | None = None,
    filter_dilation: tuple[int, int] = (1, 1),
) -> Variable:
    """2-d convolution of a 4-d input (batch, channels, rows, cols) with 4-d filters
    (output channels, input channels, rows, cols), Theano's `T.nnet.conv2d`.

    border_mode: 'valid' (no padding), 'full' (every overlap: filter rows - 1 of padding,
    dilated), 'half' (filter rows // 2 for odd filters), an int or a pair of ints (zeros
    added on both sides). subsample: the strides; filter_dilation: the gaps between
    filter taps; filter_flip: True is a true convolution, False a cross-correlation.
    input_shape / filter_shape (image_shape is Theano's old name) are optional hints,
    checked against the sizes the types know.
    """
    x, w = _float_operands(input, filters)
    for value, what in ((x, "input"), (w, "filters")):
        if value.ndim != 4:
            raise TcTypeError(located(f"conv2d: the {what} must be a 4-d tensor, found {value.type}"))
    _check_hint(x, input_shape if input_shape is not None else image_shape, "input_shape")
    _check_hint(w, filter_shape, "filter_shape")
    border, padding = _border(border_mode)
    stride = _pair(subsample, "subsample", "conv2d")
    dilation = _pair(filter_dilation, "filter_dilation", "conv2d")
    for what, pair in (("subsample", stride), ("filter_dilation", dilation)):
        if min(pair) < 1:
            raise TcValueError(located(f"conv2d: {what} must be positive, found {pair}"))
    if not isinstance(filter_flip, bool):
        raise TcTypeError(located(f"conv2d: filter_flip must be a bool, found {filter_flip!r}"))
    attributes = {"stride": stride, "padding": padding, "dilation": dilation, "flip": filter_flip}
    return make_apply(Conv2D, [x, w], {**attributes, "border": border}).out


def pool_2d(
    input: TensorLike,
    ws: tuple[int, int] | None = None,
    ignore_border: bool = True,
    stride: tuple[int, int] | None = None,
    pad: tuple[int, int] = (0, 0),
    mode: str = "max",
    ds: tuple[int, int] | None = None,
    st: tuple[int, int] | None = None,
    padding: tuple[int, int] | None = None,
) -> Variable:
    """Pool the last two axes of `input` in windows of `ws` (rows, cols), `stride` apart
    (default `ws`), Theano's `pool_2d`: mode 'max', 'sum', 'average_inc_pad' (padding counts
    in the mean) or 'average_exc_pad' ('average' too). ignore_border=True (the default)
    drops the partial windows at the end; `pad` adds zeros on both sides (with
    ignore_border only, smaller than the window). ds, st and padding are Theano's old names
    of ws, stride and pad. The max gradient goes to every element equal to its window's
    maximum (Theano's MaxPoolGrad).
    """
    if ws is None:
        ws = ds
    elif ds is not None:
        raise TcTypeError(located("pool_2d: pass ws or its old name ds, not both"))
    if ws is None:
        raise TcTypeError(located("pool_2d: the window size ws is required"))
    stride = st if stride is None else stride
    pad = padding if padding is not None else pad
    (x,) = _float_operands(input)
    mode = "average_inc_pad" if mode == "average" else mode
    if mode not in MODES:
        raise TcValueError(located(f"pool_2d: mode must be one of {', '.join(MODES)}, found {mode!r}"))
    if not isinstance(ignore_border, (bool, np.bool_)):
        raise TcTypeError(located(f"pool_2d: ignore_border must be a bool, found {ignore_border!r}"))
    window = _pair(ws, "ws", "pool_2d")
    attributes = {
        "ws": window,
        "stride": window if stride is None else _pair(stride, "stride", "pool_2d"),
        "padding": _pair(pad, "pad", "pool_2d"),
        "mode": mode,
        "ignore_border": bool(ignore_border),
    }
    if x.ndim < 2:
        raise TcTypeError(
            located(f"pool_2d pools the last two axes of a tensor of rank >= 2, found {x.type}")
        )
    return make_apply(Pool2D, [x], attributes).out


__all__ = ["conv2d", "pool_2d"]
