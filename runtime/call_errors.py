"""The errors a call raises before or after its native code runs, worded for the user: a
buffer too large to allocate (naming the op whose result it holds) and an index out of
bounds (naming the op and the user's axis). Nothing has been updated when they are raised."""

from __future__ import annotations

import ctypes
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..ir import Operation
from ..ir.errors import TcIndexError, TcMemoryError
from ..ir.ops.views import DimShuffle

if TYPE_CHECKING:
    from .function import CompiledFunction

Slot = tuple[str, int]  # ("result", k) or ("update", k)


def allocate(function: CompiledFunction, shape: tuple[int, ...], dtype: np.dtype, slot: Slot) -> np.ndarray:
    """A buffer for `slot`; one too large is a TcMemoryError naming the op that needs it."""
    try:
        return np.empty(shape, dtype=dtype)
    except (MemoryError, ValueError) as err:  # ValueError: the byte count overflows
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        raise TcMemoryError(
            f"function '{function.name}': {_describe_slot(function, *slot)} needs "
            f"{_readable_bytes(nbytes)} (shape {shape}, {np.dtype(dtype)}), more than can be allocated"
        ) from err


def allocate_all(
    function: CompiledFunction, shapes: Sequence[tuple[int, ...]], dtypes: Sequence[np.dtype], kind: str
) -> list[np.ndarray]:
    """Buffers of `shapes` and `dtypes`, allocated directly (through `allocate` each cost a
    call about half a microsecond); where one fails, `allocate` raises the error naming it."""
    try:
        return [np.empty(shape, dtype) for shape, dtype in zip(shapes, dtypes, strict=True)]
    except (MemoryError, ValueError):
        pass
    slots = enumerate(zip(shapes, dtypes, strict=True))
    return [allocate(function, shape, dtype, (kind, k)) for k, (shape, dtype) in slots]


def _describe_slot(function: CompiledFunction, kind: str, index: int) -> str:
    """'result 0 (tx.alloc at model.py:3:0)' or 'the update of shared variable W (...)'."""
    ir = function._ir.get("tir-opt")
    if ir is None:
        return f"{kind} {index}"
    if kind == "result":
        value, what = ir.return_op.operands[index], f"result {index}"
    else:
        store = [op for op in ir.body.ops if op.name == "tx.store"][index]
        value = store.operands[0]
        buffer = function._shared[function._stores[index][0]]
        what = f"the update of shared variable '{buffer.name}'"
    op = value.owner
    if op is None:
        return what
    where = f" at {op.location}" if op.location is not None else ""
    return f"{what} ({op.name}{where})"


def index_error(
    function_name: str, checks: Sequence[tuple[Operation, int]], check: int, dims: ctypes.Array
) -> TcIndexError:
    """The error of failed index check number `check` (of `checks`, the function's index
    checks in the order the code numbers them); `dims` ends in the index and the axis size."""
    if check >= len(checks):
        return TcIndexError(f"function '{function_name}': an index is out of bounds")
    op, axis = checks[check]
    axis = _axis_before_transpose(op, axis)
    where = f" at {op.location}" if op.location is not None else ""
    index, size = dims[len(dims) - 2], dims[len(dims) - 1]
    return TcIndexError(
        f"{op.name}{where} in function '{function_name}': index {index} is out of bounds "
        f"for axis {axis} with size {size}"
    )


def _readable_bytes(count: int) -> str:
    size, unit = float(count), "bytes"
    for larger in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024:
            break
        size, unit = size / 1024, larger
    return f"{count:,} bytes" if unit == "bytes" else f"{size:.1f} {unit}"


def _axis_before_transpose(op: Operation, axis: int) -> int:
    """The axis of the user's tensor that an index check's `axis` addresses: indexing along a
    later axis (T.take(x, i, axis=1), x[:, k]) gathers from a transposed view of x."""
    source = op.operands[0].owner
    if isinstance(source, DimShuffle):
        pattern = source.pattern
        if sorted(pattern) == list(range(len(pattern))):
            return pattern[axis]
    return axis
