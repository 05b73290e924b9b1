"""Integer-array indexing in the builder: `x[idx]`, `log_p[T.arange(n), y]`, `T.take(x, idx, axis)`.

What is supported is numpy's advanced indexing of the leading axes: k
integer indices (integer Variables of any rank, lists or arrays of ints,
Python ints) for the first k axes, broadcast together, followed by nothing,
full slices `:` or `...`. The result is one `tx.gather` (a copy) of shape
broadcast(index shapes) + x.shape[k:]. Indices that are known at build time
(lists, arrays, constants) are checked against known axis sizes here; every
other index is checked by the native code at the call, where a bad one is a
`TcIndexError` and changes no shared variable. Boolean masks, `None` and
partial slices mixed with arrays are refused with a TcTypeError that says
so. `inc_subtensor(x[idx], y)` adds y at the indexed places (repeated
indices accumulate, as numpy's `np.add.at`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.errors import TcIndexError, TcTypeError, TcValueError
from ..ir.ops.elementwise import Fill
from ..ir.ops.indexing import Gather, ScatterAdd
from .graph import Constant, TensorLike, Variable, as_tensor_variable, constant, located, make_apply
from .shape_ops import update_values

SUPPORTED = "integer arrays for the leading axes, optionally followed by full slices ':' or '...'"


def advanced_index(x: TensorLike, items: Sequence[Any]) -> Variable:
    """`x[items]` where some item is an integer array (`Variable.__getitem__` delegates here)."""
    x = as_tensor_variable(x)
    items = tuple(items)
    while items and (items[-1] is Ellipsis or _is_full_slice(items[-1])):
        items = items[:-1]
    if len(items) > x.ndim:
        raise TcIndexError(located(f"too many indices for {x.type}: {len(items)} integer arrays"))
    indices = [_index_variable(item, axis, x) for axis, item in enumerate(items)]
    if not indices:
        return x
    return make_apply(Gather, [x, *indices]).out


def take(a: TensorLike, indices: TensorLike, axis: int | None = None) -> Variable:
    """numpy's take: the entries of `a` at `indices` along `axis` (None: of the flattened `a`)."""
    a = as_tensor_variable(a)
    if axis is None:
        from .shape_ops import flatten

        a, axis = flatten(a, 1), 0
    if not isinstance(axis, (int, np.integer)) or not -a.ndim <= axis < a.ndim:
        raise TcValueError(located(f"take: axis {axis} is out of range for a tensor of rank {a.ndim}"))
    axis = int(axis) % a.ndim
    if axis == 0:
        return advanced_index(a, (indices,))
    front = a.dimshuffle(axis, *[d for d in range(a.ndim) if d != axis])
    gathered = advanced_index(front, (indices,))
    rank = gathered.ndim - (a.ndim - 1)  # the index's rank
    pattern = [*range(rank, rank + axis), *range(rank), *range(rank + axis, gathered.ndim)]
    return gathered.dimshuffle(*pattern)


def advanced_inc_subtensor(x_region: Variable, y: TensorLike, set_instead_of_inc: bool = False) -> Variable:
    """inc_subtensor(x[idx], y): x with y (broadcast to x[idx]'s shape) added at the indices."""
    owner = x_region.owner
    if owner is None or owner.op_class is not Gather:
        raise TcTypeError(located(f"inc_subtensor: expected an indexed x[...], found {x_region}"))
    if set_instead_of_inc:
        raise TcTypeError(
            located("set_subtensor with integer-array indices is not supported; use inc_subtensor")
        )
    x, *indices = owner.inputs
    values = update_values(y, x.type.dtype, "set_subtensor" if set_instead_of_inc else "inc_subtensor")
    if values.type != x_region.type:
        values = make_apply(Fill, [x_region, values]).out
    return make_apply(ScatterAdd, [x, values, *indices]).out


def _is_full_slice(item: Any) -> bool:
    return isinstance(item, slice) and item.start is None and item.stop is None and item.step is None


def _index_variable(item: Any, axis: int, x: Variable) -> Variable:
    """One index as an integer Variable, checked now where its values and the axis are known."""
    if isinstance(item, Variable):
        if item.type.dtype.is_bool:
            raise TcTypeError(located(f"boolean mask indexing is not supported; supported: {SUPPORTED}"))
        if not item.type.dtype.is_integer:
            raise TcTypeError(
                located(f"an index for axis {axis} must have an integer dtype, found {item.type}")
            )
        variable = item
    elif isinstance(item, (bool, np.bool_)):
        raise TcTypeError(located(f"boolean indexing is not supported; supported: {SUPPORTED}"))
    elif isinstance(item, (int, np.integer, list, tuple, np.ndarray)):
        array = np.asarray(item)
        if array.size == 0 and array.dtype.kind == "f":
            array = array.astype(np.int64)  # `[]` is an empty index, as in numpy
        if array.dtype.kind == "b":
            raise TcTypeError(located(f"boolean mask indexing is not supported; supported: {SUPPORTED}"))
        if array.dtype.kind not in "iu":
            raise TcTypeError(located(f"an index for axis {axis} must hold integers, found {array.dtype}"))
        variable = constant(array.astype(np.int64))
    elif item is None or item is Ellipsis or isinstance(item, slice):
        shown = "None" if item is None else "..." if item is Ellipsis else "a partial slice"
        raise TcTypeError(
            located(f"{shown} mixed with integer-array indices is not supported; supported: {SUPPORTED}")
        )
    else:
        raise TcTypeError(located(f"cannot index with {type(item).__name__}; supported: {SUPPORTED}"))
    _check_known(variable, axis, x)
    return variable


def _check_known(index: Variable, axis: int, x: Variable) -> None:
    size = x.type.shape[axis]
    if not isinstance(index, Constant) or size is None:
        return
    values = index.value
    bad = (values < -size) | (values >= size)
    if bad.any():
        found = int(values[bad].flat[0])
        raise TcIndexError(located(f"index {found} is out of bounds for axis {axis} with size {size}"))


__all__ = ["advanced_inc_subtensor", "advanced_index", "take"]
