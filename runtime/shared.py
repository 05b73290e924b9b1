"""Shared buffers: the storage behind Theano's shared variables.

A SharedBuffer owns one array: a numpy array on the host, or a CudaArray in
GPU memory (`tc.shared(value, device="cuda")`, or once a GPU function has used
it). Compiled functions read it and write their updates into it (in place, or
by swapping in a new array after the call succeeded) while holding its lock,
so concurrent calls never lose an update and a failed call never leaves half
an update behind. A CPU function reading a buffer that lives on the GPU moves
it back to the host (one copy), and the other way round.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..ir import DType, TcShapeError, TcTypeError, TcValueError, TensorType
from .arguments import converts_exactly, holds_huge_ints


class SharedBuffer:
    """One shared variable's current value and its lock."""

    # The attribute holding the value on the host (None while it lives on the GPU), which a
    # native entry reads directly (codegen_llvm/pycall_state.py).
    HOST_ATTRIBUTE = "_host"

    def __init__(
        self,
        value: np.ndarray,
        type: TensorType,
        name: str,
        strict: bool = False,
        allow_downcast: bool | None = None,
    ) -> None:
        self.type = type
        self.name = name
        self.strict = strict
        self.allow_downcast = allow_downcast
        self.lock = threading.RLock()
        self._host: np.ndarray | None = value
        self._device: Any = None  # a runtime.cuda.CudaArray while the value lives on the GPU
        self._context: Any = None  # the runtime.cuda.CudaContext that holds it

    @property
    def value(self) -> np.ndarray:
        """The value on the host (moved there from the GPU if it lives there)."""
        if self._device is not None:
            self._host, self._device = self._device.get(), None
        assert self._host is not None
        return self._host

    @value.setter
    def value(self, array: np.ndarray) -> None:
        self._host, self._device = array, None

    @property
    def on_device(self) -> bool:
        return self._device is not None

    def device_value(self, context: Any) -> Any:
        """The value in GPU memory (moved there from the host if it lives there)."""
        if self._device is None:
            self._device, self._host, self._context = context.upload(self.value), None, context
        return self._device

    def set_device_value(self, array: Any) -> None:
        self._device, self._host = array, None

    @staticmethod
    def from_value(
        value: object,
        name: str,
        borrow: bool = False,
        strict: bool = False,
        allow_downcast: bool | None = None,
    ) -> SharedBuffer:
        """Theano's `shared()`: Python int -> int64, float -> float64, arrays keep their dtype."""
        if isinstance(value, np.ndarray):
            array = value if borrow else value.copy()
        elif isinstance(value, (bool, int, float, np.generic)) or _is_numeric_list(value):
            array = np.asarray(value)
        else:
            raise TcValueError(
                f"shared variable {name!r}: cannot hold a value of type {type(value).__name__}; "
                "expected a numpy array or a Python number"
            )
        if array.dtype.kind not in "biuf":
            raise TcTypeError(f"shared variable {name!r}: unsupported dtype {array.dtype}")
        dtype = DType.from_numpy(array.dtype)
        array = _own(array, dtype, copy=False)
        shape = tuple(None for _ in array.shape)  # set_value may change any dimension, not the rank
        return SharedBuffer(array, TensorType(dtype, shape), name, strict, allow_downcast)

    def get(self, borrow: bool = False) -> np.ndarray:
        """The value as numpy (a copy of a GPU-resident value, which stays on the GPU)."""
        with self.lock:
            if self._device is not None:
                return self._device.get()
            return self.value if borrow else self.value.copy()

    def set(self, value: object, borrow: bool = False) -> None:
        if getattr(value, "__cuda_array_interface__", None) is not None:  # CuPy, PyTorch, tc
            from .cuda import cuda_context, from_interface

            value = cuda_context().download(from_interface(value, self.name))  # type: ignore[arg-type]
        array = self.convert(value, copy=not borrow)
        with self.lock:
            if self._device is not None:  # a GPU-resident variable stays on the GPU
                self._device = self._context.upload(array)
            else:
                self.value = array

    def convert(self, value: object, copy: bool) -> np.ndarray:
        """Check a new value against this variable's type (Theano's filter)."""
        dtype = self.type.dtype.numpy
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as err:
            raise TcValueError(f"shared variable '{self.name}': {value!r} is not numeric") from err
        if holds_huge_ints(array):
            raise TcTypeError(f"shared variable '{self.name}' holds {dtype}; {value!r} is outside its range")
        if array.dtype.kind not in "biuf":
            raise TcValueError(f"shared variable '{self.name}': {value!r} is not numeric")
        if array.dtype != dtype:
            python_number = not isinstance(value, (np.ndarray, np.generic))
            with np.errstate(all="ignore"):
                lossless = np.can_cast(array.dtype, dtype, "safe") or (
                    python_number and converts_exactly(array, array.astype(dtype))
                )
            if self.strict or not (lossless or self.allow_downcast):
                raise TcTypeError(
                    f"shared variable '{self.name}' holds {dtype}; a value of {array.dtype} would "
                    "lose precision (cast it, or create the variable with allow_downcast=True)"
                )
            array, copy = array.astype(dtype), False
        if array.ndim != self.type.rank:
            raise TcShapeError(
                f"shared variable '{self.name}' has rank {self.type.rank}; found shape {array.shape}"
            )
        return _own(array, self.type.dtype, copy)

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        del state["lock"]
        state["_host"], state["_device"], state["_context"] = self.get(borrow=True), None, None  # numpy
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self.lock = threading.RLock()


def _own(array: np.ndarray, dtype: DType, copy: bool) -> np.ndarray:
    """A C-contiguous, aligned, native-order array the native code can use directly."""
    needs_copy = copy or not (array.flags.c_contiguous and array.flags.aligned and array.dtype.isnative)
    return np.array(array, dtype=dtype.numpy, order="C") if needs_copy else array


def _is_numeric_list(value: object) -> bool:
    if not isinstance(value, (list, tuple)):
        return False
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except (TypeError, ValueError):
        return False
