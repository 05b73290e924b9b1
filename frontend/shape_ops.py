"""Shape manipulation in the builder: reshape, flatten, concatenate, stack, inc/set_subtensor.

Sizes may be Python ints or integer scalar Variables (`x.shape[0]`); a
symbolic shape vector of known length is split into its entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.dtypes import DType
from ..ir.errors import TcTypeError, TcValueError
from ..ir.ops.indexing import ScatterAdd
from ..ir.ops.shape import OPERAND, Concatenate, IncSubtensor, Reshape, Subtensor
from .graph import TensorLike, Variable, as_tensor_variable, cast_to, located, make_apply
from .indexing import _literal
from .promotion import result_dtype


def shape_entries(
    shape: Any, what: str, ndim: int | None = None
) -> tuple[tuple[int | str, ...], list[Variable]]:
    """A shape as attribute entries (ints, or '$' for a scalar operand) and those operands.

    A symbolic shape vector is split into its entries: its length must be known, or given as `ndim`.
    """
    if isinstance(shape, Variable) and shape.ndim == 1:
        length = shape.type.shape[0] if shape.type.shape[0] is not None else ndim
        if length is None:
            raise TcValueError(
                located(f"{what}: the length of shape vector {shape.type} must be known (pass ndim)")
            )
        items: list[Any] = [shape[k] for k in range(length)]
    elif isinstance(shape, (list, tuple)):
        items = list(shape)
    else:
        items = [shape]
    entries: list[int | str] = []
    operands: list[Variable] = []
    for item in items:
        literal = _literal(item)
        if literal is not None:
            entries.append(literal)
            continue
        if not isinstance(item, Variable) or item.ndim or not item.type.dtype.is_integer:
            raise TcTypeError(located(f"{what}: a size must be an int or an integer scalar, found {item!r}"))
        entries.append(OPERAND)
        operands.append(item)
    return tuple(entries), operands


def reshape(x: TensorLike, shape: Any, ndim: int | None = None) -> Variable:
    """numpy's reshape (C order); one size may be -1. A view when `x` is contiguous."""
    value = as_tensor_variable(x)
    entries, operands = shape_entries(shape, "reshape", ndim)
    if ndim is not None and ndim != len(entries):
        raise TcValueError(located(f"reshape: ndim={ndim} but the shape {entries} has {len(entries)} sizes"))
    return make_apply(Reshape, [value, *operands], {"shape": entries}).out


def flatten(x: TensorLike, ndim: int = 1) -> Variable:
    """Theano's flatten: the first ndim - 1 axes kept, the rest joined into one."""
    value = as_tensor_variable(x)
    if not 1 <= ndim <= max(value.ndim, 1):
        raise TcValueError(located(f"flatten: ndim must be between 1 and {max(value.ndim, 1)}, found {ndim}"))
    sizes = [d if d is not None else value.shape[a] for a, d in enumerate(value.type.shape)]
    # The joined size is the product of the joined axes, not -1: with a zero-length kept axis
    # a -1 would be ambiguous (numpy refuses it), while the product is always defined.
    joined: Any = 1
    for size in sizes[ndim - 1 :]:
        joined = joined * size
    return reshape(value, (*sizes[: ndim - 1], joined))


def _common(tensors: Sequence[TensorLike], what: str) -> list[Variable]:
    values = [as_tensor_variable(t) for t in tensors]
    if not values:
        raise TcValueError(located(f"{what} needs at least one tensor"))
    dtype = result_dtype(values)
    return [cast_to(v, dtype) for v in values]


def concatenate(tensors: Sequence[TensorLike], axis: int = 0) -> Variable:
    """numpy's concatenate (dtypes promoted as numpy does)."""
    values = _common(tensors, "concatenate")
    rank = values[0].ndim
    if not -rank <= axis < rank:
        raise TcValueError(located(f"concatenate: axis {axis} is out of range for rank {rank}"))
    if len(values) == 1:
        return values[0]
    return make_apply(Concatenate, values, {"axis": axis % rank}).out


def stack(tensors: Sequence[TensorLike] | TensorLike, *more: Any, axis: int = 0) -> Variable:
    """numpy's stack: the tensors joined along a new axis.

    `stack([a, b], 1)` as numpy; Theano's older `stack(a, b, c)` is accepted too.
    """
    if isinstance(tensors, (list, tuple)):
        if len(more) > 1:
            raise TcTypeError(located(f"stack takes a list of tensors and an axis, found {len(more)} more"))
        axis = int(more[0]) if more else axis
    else:
        tensors = [tensors, *more]
    values = _common(tensors, "stack")  # type: ignore[arg-type]
    rank = values[0].ndim
    if not -(rank + 1) <= axis <= rank:
        raise TcValueError(located(f"stack: axis {axis} is out of range for rank {rank + 1}"))
    axis %= rank + 1
    pattern = [*range(axis), "x", *range(axis, rank)]
    lifted = [v.dimshuffle(*pattern) for v in values]
    if any(v.ndim != rank for v in values):
        raise TcTypeError(located(f"stack: all tensors need rank {rank}, found {[v.type for v in values]}"))
    return make_apply(Concatenate, lifted, {"axis": axis}).out if len(lifted) > 1 else lifted[0]


def inc_subtensor(x_region: Variable, y: TensorLike, set_instead_of_inc: bool = False) -> Variable:
    """Theano's inc_subtensor(x[...], y): x with y added into the indexed region."""
    region = getattr(x_region, "gathered_region", None)
    if region is not None:
        return _inc_gathered(x_region, region, y, set_instead_of_inc)
    owner = getattr(x_region, "owner", None)
    if owner is None or owner.op_class is not Subtensor:
        name = "set_subtensor" if set_instead_of_inc else "inc_subtensor"
        advanced = getattr(owner, "op_class", None)
        if advanced is not None:
            try:
                from . import advanced_indexing
            except ImportError:
                advanced_indexing = None  # type: ignore[assignment]
            if advanced_indexing is not None:
                return advanced_indexing.advanced_inc_subtensor(x_region, y, set_instead_of_inc)
        raise TcTypeError(
            located(f"{name}: the first argument must be a basic index x[...], found {x_region}")
        )
    x, *scalars = owner.inputs
    values = update_values(y, x.type.dtype, "set_subtensor" if set_instead_of_inc else "inc_subtensor")
    attrs = {"spec": owner.attributes["spec"], "set": set_instead_of_inc}
    return make_apply(IncSubtensor, [x, values, *scalars], attrs).out


def zeros_like(x: Variable) -> Variable:
    from .constructors import zeros_like as build

    return build(x)


def _inc_gathered(x_region: Variable, region: Any, y: TensorLike, set_instead_of_inc: bool) -> Variable:
    """x[..., k, ...] with k from data: scatter into the shuffled basic region (the scatter checks
    k natively), shuffle it back, and write it over that region of x.

    Setting scatters the difference (one position per k), then selects the new values exactly
    where the gathered axes are at k, so inf or rounding in the difference never shows.
    """
    from .constructors import arange
    from .elemwise import and_, eq, switch

    moved, *indices = x_region.owner.inputs  # type: ignore[union-attr]
    values = update_values(y, x_region.type.dtype, "set_subtensor" if set_instead_of_inc else "inc_subtensor")
    # scatter-add takes updates of exactly the gathered shape
    delta = values - x_region if set_instead_of_inc else values + zeros_like(x_region)
    updated = make_apply(ScatterAdd, [moved, cast_to(delta, moved.type.dtype), *indices]).out
    if set_instead_of_inc:
        mask: Variable | None = None
        for axis, index in enumerate(indices):
            at = eq(arange(moved.shape[axis]), index)
            at = at.dimshuffle(*["x" if a != axis else 0 for a in range(moved.ndim)])
            mask = at if mask is None else and_(mask, at)
        updated = switch(mask, values, updated)
    inverse = [region.order.index(a) for a in range(len(region.order))]
    updated = updated.dimshuffle(*inverse)
    if region.basic is region.x:
        return updated
    return inc_subtensor(region.basic, updated, set_instead_of_inc=True)


def update_values(y: TensorLike, dtype: DType, name: str) -> Variable:
    """`y` as `dtype`, to be written into a region of x. As Theano does, a conversion that may
    lose values (`0.5` or a float tensor into an int32 x) is refused rather than truncated."""
    if isinstance(y, Variable):
        safe = np.result_type(y.type.dtype.numpy, dtype.numpy) == dtype.numpy
    elif isinstance(y, (bool, int, float)) and not isinstance(y, np.generic):
        safe = np.result_type(y, dtype.numpy) == dtype.numpy  # Python scalars are weak (NEP 50)
    else:
        try:
            array = np.asarray(y)
            with np.errstate(all="ignore"):
                converted = array.astype(dtype.numpy)
            safe = array.dtype.kind in "biuf" and bool(np.all((converted == array) | (array != array)))
        except (TypeError, ValueError, OverflowError):
            safe = True  # not a number: as_tensor_variable says what is wrong with it
    if not safe:
        found = y.type.dtype if isinstance(y, Variable) else repr(y)
        raise TcTypeError(
            located(
                f"{name}: x holds {dtype.numpy} and writing {found} into it would lose values; "
                f"cast it first (T.cast(y, '{dtype.numpy}'))"
            )
        )
    return cast_to(as_tensor_variable(y), dtype)


def set_subtensor(x_region: Variable, y: TensorLike) -> Variable:
    """Theano's set_subtensor(x[...], y): x with y written into the indexed region."""
    return inc_subtensor(x_region, y, set_instead_of_inc=True)
