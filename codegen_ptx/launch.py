"""What a device program needs from a device: the protocol between codegen_ptx and runtime.

A `DeviceProgram` (program.py) runs a function's steps on any `Device`: the
GPU (runtime/cuda.py, pycuda) or the host's grid emulator (`EmulatedDevice`
below, which CI uses to run whole programs without a GPU). Arrays on a device
are anything with the `DeviceArray` attributes; strides are in elements.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..codegen_llvm import llvm_ir as ll
from ..ir import DType
from .emulator import EmulatedModule

BLOCK = 256  # threads per block of the grid-stride kernels


class DeviceArray(Protocol):
    pointer: int  # the first element's device address
    shape: tuple[int, ...]
    strides: tuple[int, ...]  # in elements
    dtype: DType


class Device(Protocol):
    """The operations a program's steps use. Launch arguments: ints for pointers and
    integers, floats for floating-point parameters, in the kernel's parameter order."""

    multiprocessors: int
    block_reductions: bool  # whether kernels with barriers can run (False in the emulator)
    # int64[4], zero when a call starts: a kernel whose check fails sets it once, atomically,
    # to (check number + 1, the bad value, the bound); the caller reads it when the call ends.
    error_word: DeviceArray

    def empty(self, shape: tuple[int, ...], dtype: DType) -> DeviceArray: ...

    def view(
        self, base: DeviceArray, offset: int, shape: tuple[int, ...], strides: tuple[int, ...]
    ) -> DeviceArray: ...

    def upload(self, host: np.ndarray) -> DeviceArray: ...

    def download(self, array: DeviceArray) -> np.ndarray: ...

    def launch(
        self, kernel: str, grid: int, block: int, args: Sequence[int | float], shared_bytes: int = 0
    ) -> None: ...

    def gemm(
        self,
        a: DeviceArray,
        b: DeviceArray,
        out: DeviceArray,
        transpose_a: bool,
        transpose_b: bool,
        scale: tuple[float, float] = (1.0, 0.0),
    ) -> None:
        """out (m x n, C-contiguous) = op(a) @ op(b), where a and b are C-contiguous matrices
        and op transposes where asked; batched when all three have rank 3. With `scale`
        (alpha, beta): out = alpha * op(a) @ op(b) + beta * out (BLAS's)."""
        ...


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    strides: list[int] = []
    running = 1
    for dim in reversed(shape):
        strides.insert(0, running)
        running *= dim
    return tuple(strides)


def broadcast_shape(shapes: list[tuple[int, ...]], rank: int) -> tuple[int, ...]:
    """numpy's broadcast of operand shapes (already checked by the shape plan)."""
    result = [1] * rank
    for shape in shapes:
        for axis, dim in enumerate(shape, start=rank - len(shape)):
            if dim != 1:
                result[axis] = dim
    return tuple(result)


def element_strides(array: DeviceArray, shape: tuple[int, ...]) -> list[int]:
    """`array`'s strides as an operand of a result of `shape`: 0 along broadcast axes."""
    rank = len(shape)
    strides = [0] * rank
    for axis, (dim, stride) in enumerate(
        zip(array.shape, array.strides, strict=True), start=rank - len(array.shape)
    ):
        strides[axis] = 0 if dim == 1 and shape[axis] != 1 else stride
    return strides


# The most blocks per multiprocessor a grid-stride kernel is launched with (None: one item per
# thread, no cap). bench/gpu_grid.py on an H200 (2026-11-30), ms for caps 4/8/16/32/none: seed f
# 2^26 float32 0.217/0.217/0.203/0.198/0.215, 2^25 float64 0.230/0.226/0.223/0.221/0.233,
# Philox uniforms 2^26 float32 0.283/0.273/0.268/0.265/0.376.
BLOCKS_PER_MULTIPROCESSOR: int | None = 32


def grid_for(work: int, device: Device, kernel: str, block: int = BLOCK) -> int:
    """Blocks for a grid-stride loop of `kernel` over `work` items (any count is correct)."""
    blocks = max(1, math.ceil(work / block))
    cap = BLOCKS_PER_MULTIPROCESSOR
    return blocks if cap is None else min(blocks, device.multiprocessors * cap)


@dataclass
class EmulatedArray:
    pointer: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    dtype: DType
    owner: np.ndarray = field(repr=False)

    def get(self) -> np.ndarray:
        """A numpy copy."""
        itemsize = self.dtype.itemsize
        offset = (self.pointer - self.owner.ctypes.data) // itemsize
        view = np.lib.stride_tricks.as_strided(
            self.owner[offset:], self.shape, [s * itemsize for s in self.strides], writeable=False
        )
        return np.array(view)

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        return self.get() if dtype is None else self.get().astype(dtype)


class EmulatedDevice:
    """A `Device` on the host: buffers are numpy arrays, kernels run in the grid emulator
    (one thread at a time, on a grid of `multiprocessors * 8` blocks at most)."""

    block_reductions = False

    def __init__(self, module: ll.Module, multiprocessors: int = 2) -> None:
        self.kernels = EmulatedModule(module)
        self.multiprocessors = multiprocessors
        self.error_word = self.empty((4,), DType.I64)
        self.lock = threading.RLock()  # what runtime/cuda_function.py takes of a context

    def synchronize(self) -> None:
        """Nothing to wait for: every launch has finished when it returns."""

    def copy(self, source: EmulatedArray) -> EmulatedArray:
        return self.upload(source.get())

    def clear_errors(self) -> None:
        self.error_word.owner[:] = 0

    def read_errors(self) -> np.ndarray:
        return self.error_word.owner.copy()

    def empty(self, shape: tuple[int, ...], dtype: DType) -> EmulatedArray:
        owner = np.zeros(max(1, math.prod(shape)), dtype.numpy)  # zeros: uninitialised reads show
        return EmulatedArray(owner.ctypes.data, tuple(shape), contiguous_strides(shape), dtype, owner)

    def view(
        self, base: DeviceArray, offset: int, shape: tuple[int, ...], strides: tuple[int, ...]
    ) -> EmulatedArray:
        pointer = base.pointer + offset * base.dtype.itemsize
        return EmulatedArray(pointer, tuple(shape), tuple(strides), base.dtype, base.owner)  # type: ignore[attr-defined]

    def upload(self, host: np.ndarray) -> EmulatedArray:
        array = self.empty(host.shape, DType.from_numpy(host.dtype))
        array.owner[: host.size] = np.ascontiguousarray(host).reshape(-1)
        return array

    def download(self, array: DeviceArray) -> np.ndarray:
        return array.get()  # type: ignore[attr-defined]

    def launch(
        self, kernel: str, grid: int, block: int, args: Sequence[int | float], shared_bytes: int = 0
    ) -> None:
        # A small block keeps the emulator fast; any block size is correct for grid-stride loops.
        self.kernels.launch(kernel, min(grid, self.multiprocessors * 8), min(block, 4), args)

    def gemm(
        self,
        a: DeviceArray,
        b: DeviceArray,
        out: DeviceArray,
        transpose_a: bool,
        transpose_b: bool,
        scale: tuple[float, float] = (1.0, 0.0),
    ) -> None:
        left, right = self.download(a), self.download(b)
        if transpose_a:
            left = np.swapaxes(left, -1, -2)
        if transpose_b:
            right = np.swapaxes(right, -1, -2)
        product = np.matmul(left, right).reshape(-1)
        alpha, beta = (product.dtype.type(v) for v in scale)
        target = out.owner[: product.size]  # type: ignore[attr-defined]
        target[:] = alpha * product + beta * target if scale != (1.0, 0.0) else product
