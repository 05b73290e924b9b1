"""The GPU through pycuda: the context, device memory, kernel modules, and device arrays.

pycuda is imported only when a GPU is asked for, and tc works in the device's
primary context (`pycuda.autoprimaryctx`), the one CuPy and PyTorch use, so
arrays and kernels can be shared with them. Every call sequence runs on one
stream of tc's; memory comes from a pool, so a training step allocates nothing
from the driver once warm. Anything that goes wrong in the driver is a
`TcDeviceError` carrying its message.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ir import DType, TcDeviceError, TcTypeError
from ..ir.errors import TcDeviceMemoryError

INSTALL_HINT = "install tc's cuda extra (`pip install 'tc[cuda]'`, which brings pycuda)"


@dataclass
class CudaArray:
    """An array in device memory: a pointer, a shape and strides in elements.

    `owner` keeps the memory alive (a pooled allocation, or the caller's array).
    Exposes `__cuda_array_interface__`, so CuPy, PyTorch and Numba take it without a copy.
    """

    pointer: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    dtype: DType
    owner: Any = field(default=None, repr=False)

    @property
    def __cuda_array_interface__(self) -> dict[str, object]:
        itemsize = self.dtype.itemsize
        return {
            "shape": self.shape,
            "strides": tuple(s * itemsize for s in self.strides),
            "typestr": np.dtype(self.dtype.numpy).str,
            "data": (self.pointer, False),
            "version": 3,
        }

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def get(self) -> np.ndarray:
        """A numpy copy (Theano's `get_value`, CuPy's `.get()`)."""
        return cuda_context().download(self)

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        """numpy reads a device array by copying it to the host (and waiting for the GPU)."""
        return self.get() if dtype is None else self.get().astype(dtype)


def from_interface(value: object, name: str) -> CudaArray | None:
    """A caller's device array (anything with `__cuda_array_interface__`) as a CudaArray, no copy."""
    interface = getattr(value, "__cuda_array_interface__", None)
    if interface is None:
        return None
    dtype = np.dtype(interface["typestr"])
    try:
        tc_dtype = DType.from_numpy(dtype)
    except Exception as err:
        raise TcTypeError(f"argument '{name}': a device array of dtype {dtype} is not supported") from err
    shape = tuple(int(d) for d in interface["shape"])
    itemsize = dtype.itemsize
    byte_strides = interface.get("strides")
    if byte_strides is None:
        strides = contiguous_strides(shape)
    else:
        if any(s % itemsize for s in byte_strides):
            raise TcTypeError(f"argument '{name}': strides {byte_strides} are not multiples of the item size")
        strides = tuple(s // itemsize for s in byte_strides)
    pointer = int(interface["data"][0] or 0)
    return CudaArray(pointer, shape, strides, tc_dtype, owner=value)


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    strides: list[int] = []
    running = 1
    for dim in reversed(shape):
        strides.insert(0, running)
        running *= dim
    return tuple(strides)


_PARAM_FORMATS = {"ptr": "P", 64: "q", 32: "i", 16: "h", 8: "b", 1: "b", "float": "f", "double": "d"}


class CudaContext:
    """The process's GPU: pycuda's driver in the primary context, tc's stream, pool and cuBLAS."""

    def __init__(self) -> None:
        drv = _driver()
        self.driver = drv
        device = drv.Context.get_device()
        self.name = device.name()
        self.compute_capability: tuple[int, int] = tuple(device.compute_capability())  # type: ignore[assignment]
        self.multiprocessors = device.get_attribute(drv.device_attribute.MULTIPROCESSOR_COUNT)
        self.stream = drv.Stream()
        from pycuda.tools import DeviceMemoryPool

        self.pool = DeviceMemoryPool()
        self._blas: Any = None
        self.tf32 = False
        self.lock = threading.RLock()

    # memory
    def empty(self, shape: tuple[int, ...], dtype: DType) -> CudaArray:
        nbytes = max(1, math.prod(shape) * dtype.itemsize)
        try:
            allocation = self.pool.allocate(nbytes)
        except self.driver.MemoryError as err:
            self.pool.free_held()
            try:
                allocation = self.pool.allocate(nbytes)
            except self.driver.MemoryError:
                raise TcDeviceMemoryError(
                    f"out of device memory: {nbytes} bytes for an array of shape {shape} ({dtype.value}); "
                    "no shared variable was changed"
                ) from err
        return CudaArray(int(allocation), tuple(shape), contiguous_strides(shape), dtype, allocation)

    def upload(self, host: np.ndarray) -> CudaArray:
        host = np.ascontiguousarray(host)
        array = self.empty(host.shape, DType.from_numpy(host.dtype))
        if host.size:
            self.driver.memcpy_htod_async(array.pointer, host, self.stream)
        return array

    def download(self, array: CudaArray) -> np.ndarray:
        """A numpy copy of `array` (any strides), after the work queued before it."""
        itemsize = array.dtype.itemsize
        out = np.empty(array.shape, array.dtype.numpy)
        if out.size == 0:
            return out
        low = sum(min(0, (d - 1) * s) for d, s in zip(array.shape, array.strides, strict=True))
        high = sum(max(0, (d - 1) * s) for d, s in zip(array.shape, array.strides, strict=True))
        span = np.empty(high - low + 1, array.dtype.numpy)
        self.driver.memcpy_dtoh_async(span, array.pointer + low * itemsize, self.stream)
        self.stream.synchronize()
        view = np.lib.stride_tricks.as_strided(
            span[-low:], array.shape, [s * itemsize for s in array.strides], writeable=False
        )
        out[...] = view
        return out

    def copy(self, source: CudaArray) -> CudaArray:
        """A contiguous copy of a contiguous array (a shared variable's value, say)."""
        out = self.empty(source.shape, source.dtype)
        nbytes = source.size * source.dtype.itemsize
        if nbytes:
            self.driver.memcpy_dtod_async(out.pointer, source.pointer, nbytes, self.stream)
        return out

    def synchronize(self) -> None:
        try:
            self.stream.synchronize()
        except self.driver.Error as err:
            raise TcDeviceError(f"the GPU reported an error: {err}") from err

    def set_tf32(self, on: bool) -> None:
        """Whether float32 products may use TF32 tensor cores (about 7x faster, 10-bit mantissas)."""
        self.tf32 = on
        if self._blas is not None:
            self._blas.set_tf32(on)

    @property
    def blas(self) -> Any:
        if self._blas is None:
            from .cublas import Cublas

            self._blas = Cublas.create()
            self._blas.set_stream(self.stream.handle)
            self._blas.set_tf32(self.tf32)
        return self._blas


@functools.lru_cache(maxsize=1)
def cuda_context() -> CudaContext:
    """The GPU, set up once; TcDeviceError saying what is missing if there is none."""
    return CudaContext()


def _driver() -> Any:
    try:
        import pycuda.driver as drv
    except ImportError as err:
        raise TcDeviceError(f"device='cuda' needs pycuda, which is not installed: {INSTALL_HINT}") from err
    try:
        drv.init()
    except Exception as err:  # pycuda raises its own RuntimeError subclasses
        raise TcDeviceError(
            f"device='cuda': the CUDA driver could not be initialised ({err}); is a driver installed?"
        ) from err
    if drv.Device.count() == 0:
        raise TcDeviceError("device='cuda': the CUDA driver sees no GPU on this machine")
    try:
        import pycuda.autoprimaryctx  # noqa: F401  (the primary context, shared with CuPy and PyTorch)
    except Exception as err:
        raise TcDeviceError(f"device='cuda': could not enter the GPU's primary context: {err}") from err
    return drv


class CudaModule:
    """One compiled module's kernels, loaded into the context, with their parameter formats."""

    def __init__(self, context: CudaContext, ptx: str, formats: dict[str, str]) -> None:
        self.context = context
        drv = context.driver
        try:
            module = drv.module_from_buffer(ptx.encode())
        except drv.Error as err:
            raise TcDeviceError(f"the GPU driver could not load tc's PTX: {err}") from err
        self._module = module
        self.functions = {}
        for name, fmt in formats.items():
            fn = module.get_function(name)
            fn.prepare(fmt)
            self.functions[name] = fn


def parameter_format(param_types: Sequence[object]) -> str:
    """pycuda's `prepare` format for a kernel's LLVM parameter types, read from their text
    (`double*`, `double`, `float`, `i64`: the runtime does not import the code generator)."""
    chars = []
    for ty in param_types:
        text = str(ty)
        if text.endswith("*") or text.startswith("ptr"):
            chars.append(_PARAM_FORMATS["ptr"])
        elif text in ("double", "float"):
            chars.append(_PARAM_FORMATS[text])
        else:
            chars.append(_PARAM_FORMATS[int(text.removeprefix("i"))])
    return "".join(chars)


class CudaDevice:
    """The `Device` a program runs on (codegen_ptx/launch.py): a context and a loaded module."""

    block_reductions = True

    def __init__(self, context: CudaContext, module: CudaModule) -> None:
        self.context = context
        self.module = module
        self.multiprocessors = context.multiprocessors
        self.error_word = context.empty((4,), DType.I64)

    def empty(self, shape: tuple[int, ...], dtype: DType) -> CudaArray:
        return self.context.empty(tuple(shape), dtype)

    def view(
        self, base: CudaArray, offset: int, shape: tuple[int, ...], strides: tuple[int, ...]
    ) -> CudaArray:
        pointer = base.pointer + offset * base.dtype.itemsize
        return CudaArray(pointer, tuple(shape), tuple(strides), base.dtype, base.owner)

    def upload(self, host: np.ndarray) -> CudaArray:
        return self.context.upload(host)

    def download(self, array: CudaArray) -> np.ndarray:
        return self.context.download(array)

    def launch(
        self, kernel: str, grid: int, block: int, args: Sequence[int | float], shared_bytes: int = 0
    ) -> None:
        fn = self.module.functions[kernel]
        try:
            fn.prepared_async_call(
                (grid, 1), (block, 1, 1), self.context.stream, *args, shared_size=shared_bytes
            )
        except self.context.driver.Error as err:
            raise TcDeviceError(f"launching GPU kernel {kernel}: {err}") from err

    def gemm(
        self,
        a: CudaArray,
        b: CudaArray,
        out: CudaArray,
        transpose_a: bool,
        transpose_b: bool,
        scale: tuple[float, float] = (1.0, 0.0),
    ) -> None:
        """out = op(a) @ op(b) through cuBLAS; all three C-contiguous (batched at rank 3).
        With `scale` (alpha, beta, matrices only): out = alpha * op(a) @ op(b) + beta * out."""
        blas = self.context.blas
        m, n = out.shape[-2], out.shape[-1]
        k = a.shape[-2] if transpose_a else a.shape[-1]
        pointers = (a.pointer, b.pointer, out.pointer)
        if len(out.shape) == 3:
            assert scale == (1.0, 0.0), "a batched product takes no alpha or beta"
            blas.gemm_strided_batched(
                out.dtype.numpy,
                m,
                n,
                k,
                *pointers,
                out.shape[0],
                transpose_a=transpose_a,
                transpose_b=transpose_b,
            )
        else:
            flags = {"transpose_a": transpose_a, "transpose_b": transpose_b}
            blas.gemm(out.dtype.numpy, m, n, k, *pointers, **flags, scale=scale)

    def clear_errors(self) -> None:
        self.context.driver.memset_d32_async(self.error_word.pointer, 0, 8, self.context.stream)

    def read_errors(self) -> np.ndarray:
        return self.context.download(self.error_word)
