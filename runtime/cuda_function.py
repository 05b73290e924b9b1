"""The callable that `tc.function(..., device="cuda")` returns.

The same contract as the CPU's CompiledFunction (arguments checked and
converted, shapes checked before anything runs, updates applied only when the
call succeeded), with the work done by a device program (codegen_ptx) on the
GPU. Arguments are numpy arrays (copied to the GPU) or device arrays (CuPy,
PyTorch, tc's own: anything with `__cuda_array_interface__`, used in place);
results are numpy arrays, or device arrays with `outputs_on_device = True`.
Shared variables live in GPU memory and their updates never leave it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir import TcTypeError
from .cuda import CudaArray, CudaContext, CudaDevice, contiguous_strides, from_interface
from .function import CompiledFunction


class CudaFunction(CompiledFunction):
    """A tc function compiled for the GPU."""

    def __init__(
        self,
        *args: Any,
        program: Any,
        device: CudaDevice,
        context: CudaContext,
        global_names: Sequence[str],
        **kwargs: Any,
    ) -> None:
        """`program`: a codegen_ptx DeviceProgram; `global_names`: the globals of the shared
        buffers, in slot order; the rest as CompiledFunction's (with `native` None)."""
        super().__init__(*args, **kwargs)
        self._program = program
        self._global_names = list(global_names)
        self._device = device
        self._context = context
        self.outputs_on_device = False  # True: return CudaArrays, no copy to the host
        self._fast = None

    @property
    def device(self) -> str:
        return "cuda"

    def _call(self, *args: object, **kwargs: object) -> Any:
        if kwargs or len(args) != len(self._converters):
            args = self._merge_keywords(args, kwargs)  # keywords and defaults (runtime/signature.py)
        values = [self._convert(i, a) for i, a in enumerate(args)]
        for _, lock in self._locks:
            lock.acquire()
        try:
            with self._context.lock:
                return self._run_on_device(values)
        finally:
            for _, lock in reversed(self._locks):
                lock.release()

    def _convert(self, index: int, value: object) -> np.ndarray | CudaArray:
        """A device array as it is (its dtype and rank checked), anything else as the CPU converts it;
        a scalar stays on the host (kernels take it by value), a larger array is copied to the GPU."""
        spec = self.inputs[index]
        device_array = from_interface(value, spec.name)
        if device_array is not None:
            if device_array.dtype is not spec.type.dtype or len(device_array.shape) != spec.type.rank:
                raise TcTypeError(
                    f"argument '{spec.name}' of function '{self.name}': expected {spec.type}, found a device "
                    f"array of {np.dtype(device_array.dtype.numpy)} with shape {device_array.shape} "
                    "(cast it first)"
                )
            return self._context.download(device_array) if spec.type.rank == 0 else device_array
        return self._converters[index](value)

    def _run_on_device(self, values: list[np.ndarray | CudaArray]) -> Any:
        context, plan = self._context, self._plan
        current = [b.device_value(context) for b in self._shared]
        shapes = [tuple(v.shape) for v in values] + [tuple(c.shape) for c in current]
        data = None
        if plan.uses_values:  # sizes read from values: only integer scalars and vectors are read
            data = [_size_source(context, v) for v in (*values, *current)]
        if plan.evaluate(shapes, data) is None:
            plan.check(shapes, data)
            raise AssertionError(f"function '{self.name}': a shape check failed but none reported it")
        inputs = [v if isinstance(v, CudaArray) or v.ndim == 0 else context.upload(v) for v in values]
        globals_ = dict(zip(self._global_names, current, strict=True))
        if self._index_checks:
            self._device.clear_errors()
        results, updates = self._program.run(self._device, inputs, globals_)
        if self._index_checks:
            word = self._device.read_errors()
            if word[0]:
                raise self._index_error(int(word[0]) - 1, [int(word[1]), int(word[2])])  # type: ignore[arg-type]
        outputs = [self._output(r, t.dtype.numpy) for r, t in zip(results, self.output_types, strict=True)]
        new_values = [self._stored(v) for _, v in updates]
        context.synchronize()  # a failed kernel raises here, before any update is applied
        for (buffer_index, _), new in zip(self._stores, new_values, strict=True):
            if self._keep_updates:  # False in a copy made with delete_updates=True
                self._shared[buffer_index].set_device_value(new)
        return outputs[0] if self._single else outputs

    def _output(self, value: np.ndarray | CudaArray, dtype: np.dtype) -> Any:
        if isinstance(value, np.ndarray):
            host = np.array(value, dtype=dtype)
            return self._context.upload(host) if self.outputs_on_device else host
        if self.outputs_on_device:
            return value
        return self._context.download(value)

    def _stored(self, value: np.ndarray | CudaArray) -> CudaArray:
        """A new value for a shared variable: tc's own contiguous memory (a view or a caller's
        array is copied, so the variable never aliases anything else)."""
        if isinstance(value, np.ndarray):
            return self._context.upload(value)
        contiguous = value.strides == contiguous_strides(value.shape)
        owned = type(value.owner).__module__.startswith("pycuda") and value.pointer == int(value.owner)
        if owned and contiguous:
            return value
        if contiguous:  # a view into a larger buffer, or the caller's memory: copied on the GPU
            return self._context.copy(value)
        return self._context.upload(self._context.download(value))  # strided: rare, through the host


def _size_source(context: CudaContext, value: np.ndarray | CudaArray) -> np.ndarray | None:
    """What the shape plan may read of an argument or global: the values of integer scalars and
    vectors (copied from the GPU, they are small); None for the rest, never copied."""
    if isinstance(value, np.ndarray):
        return value
    if value.dtype.is_integer and len(value.shape) <= 1 and not value.dtype.is_bool:
        return context.download(value)
    return None
