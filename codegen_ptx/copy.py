"""Strided copies on the device: materialising views, filling, concatenating, inc_subtensor.

One kernel per (dtype, rank, mode), emitted on first use in a program:
`dst[i] = src[i]` (mode "copy") or `dst[i] += src[i]` (mode "add") over a
strided destination and a strided (possibly broadcast) source, both indexed
by the same multi-index. Parameters: i64 n, dst pointer, src pointer,
i64 dims[rank], i64 dst strides[rank], i64 src strides[rank] (in elements).
"""

from __future__ import annotations

import math

from ..codegen_llvm import llvm_ir as ll
from ..codegen_llvm.types import I64, memory_type
from ..ir import DType
from .launch import BLOCK, Device, DeviceArray, contiguous_strides, element_strides, grid_for
from .loops import grid_stride_loop
from .program import ProgramBuilder

MODES = ("copy", "add")


def copy_kernel(builder: ProgramBuilder, dtype: DType, rank: int, mode: str = "copy") -> str:
    """The name of the copy kernel for (dtype, rank, mode), emitted into the program's module once."""
    key = f"tc_{mode}_{dtype.value}_r{rank}"
    if key in builder.module.globals:  # shared by every function of the module
        if key not in builder.kernels:
            builder.add_kernels(key)
        return key
    builder.add_kernels(key)
    ty = memory_type(dtype)
    target = builder.target
    fn = target.kernel(builder.module, key, [I64, ty.as_pointer(), ty.as_pointer()] + [I64] * (3 * rank))
    n, dst, src = fn.args[:3]
    dims, dst_strides, src_strides = (fn.args[3 + rank * k : 3 + rank * (k + 1)] for k in range(3))
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    with grid_stride_loop(target, b, n, "element") as index:
        to: ll.Value = I64(0)
        source: ll.Value = I64(0)
        rest = index
        for axis in reversed(range(rank)):
            position = b.urem(rest, dims[axis])
            rest = b.udiv(rest, dims[axis])
            to = b.add(to, b.mul(position, dst_strides[axis]))
            source = b.add(source, b.mul(position, src_strides[axis]))
        value = b.load(b.gep(src, [source]))
        address = b.gep(dst, [to])
        if mode == "add":
            old = b.load(address)
            value = b.fadd(old, value) if dtype.is_float else (b.or_ if dtype.is_bool else b.add)(old, value)
        b.store(value, address)
    b.ret_void()
    return key


def launch_copy(device: Device, kernel: str, dst: DeviceArray, src: DeviceArray) -> None:
    """dst <- src (or +=), `src` broadcast to dst's shape (numpy's rules)."""
    shape = tuple(dst.shape)
    n = math.prod(shape)
    if n == 0:
        return
    args = [n, dst.pointer, src.pointer, *shape, *dst.strides, *element_strides(src, shape)]
    device.launch(kernel, grid_for(n, device, kernel), BLOCK, args)


def contiguous(device: Device, kernel: str, array: DeviceArray) -> DeviceArray:
    """`array` itself if C-contiguous, else a C-contiguous copy (made with `kernel`)."""
    if tuple(array.strides) == contiguous_strides(array.shape) or math.prod(array.shape) <= 1:
        return array
    out = device.empty(tuple(array.shape), array.dtype)
    launch_copy(device, kernel, out, array)
    return out
