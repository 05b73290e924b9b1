"""The call path for functions whose arguments, results and shared state are all scalars.

Theano users call such functions in tight loops (an accumulator, a learning
rate schedule), where the cost of a call is all overhead. This path keeps one
preallocated 0-d buffer per argument, result and update, and a fixed table of
their addresses for the native entry point, so a call is: accept each
argument by its exact type, copy it into its buffer, one foreign call, copy
the updates into the shared values and the results out. Anything it does not
recognise (arrays, keyword arguments, a value needing conversion or an error
message) falls back to the general path, which applies the same rules.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Sequence

import numpy as np

from ..ir import DType, TensorType
from ..ir.errors import TcMemoryError
from .shared import SharedBuffer

SLOW = object()  # "not for me": the caller takes the general path


def _accepts(dtype: DType) -> Callable[[object], bool]:
    """Which Python values go into a `dtype` scalar unchanged and without loss."""
    exact = dtype.numpy.type
    if dtype.is_integer:
        info = np.iinfo(dtype.numpy)
        low, high = int(info.min), int(info.max)
        return lambda v: type(v) is exact or (type(v) is int and low <= v <= high)  # noqa: E721
    if dtype is DType.F64:
        return lambda v: type(v) is exact or type(v) is float  # noqa: E721
    return lambda v: type(v) is exact  # noqa: E721


def scalar_fast_path(
    native: ctypes._CFuncPtr,
    name: str,
    input_types: Sequence[TensorType],
    output_types: Sequence[TensorType],
    shared: Sequence[SharedBuffer],
    stores: Sequence[tuple[int, bool]],
    single_output: bool,
    apply_updates: bool = True,
) -> Callable[[tuple[object, ...]], object] | None:
    """The fast call, or None when some argument, result or shared value is not a scalar.
    `apply_updates=False` (a copy without updates) computes the updates and drops them."""
    if any(t.rank for t in (*input_types, *output_types, *(b.type for b in shared))):
        return None
    inputs = [np.empty((), t.dtype.numpy) for t in input_types]
    outputs = [np.empty((), t.dtype.numpy) for t in output_types]
    scratch = [np.empty((), shared[i].type.dtype.numpy) for i, _ in stores]
    accept = [_accepts(t.dtype) for t in input_types]
    count = len(inputs)
    first_shared = len(inputs) + len(outputs)
    table = (ctypes.c_void_p * (first_shared + len(shared) + len(scratch)))(
        *[a.ctypes.data for a in (*inputs, *outputs)], *[0] * len(shared), *[s.ctypes.data for s in scratch]
    )
    table_address = ctypes.addressof(table)
    no_dims = ctypes.c_int64(0)
    dims_address = ctypes.addressof(no_dims)
    entry = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p)(
        ctypes.cast(native, ctypes.c_void_p).value
    )
    seen: list[np.ndarray | None] = [None] * len(shared)  # the arrays whose addresses are in the table
    locks = sorted({id(b.lock): b.lock for b in shared}.items()) or [(0, threading.Lock())]
    updates = [(shared[i], s) for (i, _), s in zip(stores, scratch, strict=True)] if apply_updates else []
    buffers_and_slots = list(enumerate(shared))

    lock = locks[0][1] if len(locks) == 1 else _MultiLock([lk for _, lk in locks])

    def call(args: tuple[object, ...]) -> object:
        if len(args) != count:
            return SLOW
        for ok, value in zip(accept, args):  # noqa: B905 (lengths checked above)
            if not ok(value):
                return SLOW
        with lock:
            for buffer, value in zip(inputs, args):  # noqa: B905
                buffer[()] = value
            for index, buffer in buffers_and_slots:
                current = buffer.value
                if current is not seen[index]:
                    if not current.flags.writeable:
                        return SLOW
                    table[first_shared + index] = current.ctypes.data
                    seen[index] = current
            if entry(table_address, dims_address):
                raise TcMemoryError(
                    f"function '{name}' could not allocate a temporary buffer "
                    f"(its size overflows 64 bits or memory is exhausted); no shared variable was changed"
                )
            for buffer, new in updates:
                buffer.value[()] = new
            if single_output:
                return outputs[0].copy()
            return [out.copy() for out in outputs]

    # keep the ctypes objects alive as long as the closure
    call.keepalive = (table, no_dims, entry, inputs, outputs, scratch)  # type: ignore[attr-defined]
    return call


class _MultiLock:
    """Several locks taken in a fixed order, as one context manager."""

    def __init__(self, locks: list[threading.RLock]) -> None:
        self.locks = locks

    def __enter__(self) -> None:
        for lock in self.locks:
            lock.acquire()

    def __exit__(self, *exc: object) -> None:
        for lock in reversed(self.locks):
            lock.release()
