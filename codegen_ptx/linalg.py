"""Matrix products on the device: cuBLAS (through Device.gemm), on floating-point operands;
tx.gemm (passes/fuse_gemm.py) as a copy of C that cuBLAS's beta and alpha then update.

Each operand is handed over as a C-contiguous matrix, or as the transpose of
one (the gradient's `x.T`, a view, costs no copy: cuBLAS reads it
transposed); any other layout is copied first. Vectors are 1 x k or k x 1
matrices.
"""

from __future__ import annotations

from ..ir import TcCompilationError
from ..ir.ops.linalg import BatchedDot, Dot, Gemm
from .copy import contiguous, copy_kernel, launch_copy
from .launch import Device, DeviceArray, contiguous_strides
from .program import ProgramBuilder, Runtime, Step, as_device, device_step


def _as_matrix(device: Device, kernel: str, array: DeviceArray) -> tuple[DeviceArray, bool]:
    """(a C-contiguous matrix or batch of them, whether to transpose it) standing for `array`."""
    shape, strides = tuple(array.shape), tuple(array.strides)
    if strides == contiguous_strides(shape) or min(shape, default=1) <= 1 and _dense(array):
        return device.view(array, 0, shape, contiguous_strides(shape)), False
    swapped = (*shape[:-2], shape[-1], shape[-2])
    if (*strides[:-2], strides[-1], strides[-2]) == contiguous_strides(swapped):
        return device.view(array, 0, swapped, contiguous_strides(swapped)), True
    return contiguous(device, kernel, array), False


def _dense(array: DeviceArray) -> bool:
    """Whether the elements lie one after another (a row or column of a contiguous matrix)."""
    expected = 1
    for dim, stride in zip(reversed(array.shape), reversed(array.strides), strict=True):
        if dim != 1 and stride != expected:
            return False
        expected *= dim
    return True


def _check_float(op: Dot | BatchedDot) -> None:
    dtype = op.results[0].type.dtype
    if not dtype.is_float:
        raise TcCompilationError(
            f"'{op.name}' at {op.location}: products of {dtype.value} run on the CPU only; "
            "cast the operands to float32 or float64 for the GPU"
        )


@device_step(Dot)
def _dot(builder: ProgramBuilder, op: Dot) -> Step:
    _check_float(op)
    a_type, b_type = (v.type for v in op.operands)
    dtype = op.results[0].type.dtype
    kernel = copy_kernel(builder, dtype, 2)

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        a, b = (as_device(device, v) for v in operands)
        # Vectors as matrices: a row on the left, a column on the right.
        a2 = a if a_type.rank == 2 else device.view(a, 0, (1, a.shape[0]), (0, a.strides[0]))
        b2 = b if b_type.rank == 2 else device.view(b, 0, (b.shape[0], 1), (b.strides[0], 0))
        m, n = a2.shape[0], b2.shape[1]
        shape = tuple(([m] if a_type.rank == 2 else []) + ([n] if b_type.rank == 2 else []))
        out = device.empty(shape, dtype)
        if m * n == 0:
            return [out]
        left, transpose_a = _as_matrix(device, kernel, a2)
        right, transpose_b = _as_matrix(device, kernel, b2)
        device.gemm(left, right, device.view(out, 0, (m, n), (n, 1)), transpose_a, transpose_b)
        return [out]

    return run


@device_step(Gemm)
def _gemm(builder: ProgramBuilder, op: Gemm) -> Step:
    """beta * c + alpha * (a . b) into a fresh array: the device keeps no update in place."""
    dtype = op.results[0].type.dtype
    kernel = copy_kernel(builder, dtype, 2)
    scale = (op.alpha, op.beta)

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        c, a, b = (as_device(device, v) for v in operands)
        out = device.empty(tuple(c.shape), dtype)
        launch_copy(device, kernel, out, c)
        if a.shape[0] * b.shape[1] == 0:
            return [out]
        left, transpose_a = _as_matrix(device, kernel, a)
        right, transpose_b = _as_matrix(device, kernel, b)
        device.gemm(left, right, out, transpose_a, transpose_b, scale)
        return [out]

    return run


@device_step(BatchedDot)
def _batched_dot(builder: ProgramBuilder, op: BatchedDot) -> Step:
    _check_float(op)
    dtype = op.results[0].type.dtype
    kernel = copy_kernel(builder, dtype, 3)

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        a, b = (as_device(device, v) for v in operands)
        shape = (a.shape[0], a.shape[1], b.shape[2])
        out = device.empty(shape, dtype)
        if 0 in shape:
            return [out]
        left, transpose_a = _as_matrix(device, kernel, a)
        right, transpose_b = _as_matrix(device, kernel, b)
        device.gemm(left, right, out, transpose_a, transpose_b)
        return [out]

    return run
