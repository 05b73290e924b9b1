"""Views and shape ops on the device: dimshuffle, subtensor and reshape move no data when they can;
alloc, concatenate and inc_subtensor are strided copies (copy.py)."""

from __future__ import annotations

import numpy as np

from ..ir.ops.elementwise import Cast
from ..ir.ops.shape import (
    Alloc,
    Concatenate,
    IncSubtensor,
    Reshape,
    Subtensor,
    _checked_index,
    _fill_shape,
    numpy_index,
)
from ..ir.ops.views import DimShuffle
from .copy import contiguous, copy_kernel, launch_copy
from .launch import Device, DeviceArray, contiguous_strides
from .program import ProgramBuilder, Runtime, Step, as_device, device_step


@device_step(Cast)
def _retype(builder: ProgramBuilder, op: Cast) -> Step:
    """A cast fuse left alone: it only learns or forgets static sizes, so the value is unchanged."""

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        return [operands[0]]

    return run


@device_step(DimShuffle)
def _dimshuffle(builder: ProgramBuilder, op: DimShuffle) -> Step:
    pattern = op.pattern

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        source = as_device(device, operands[0])
        shape = tuple(1 if p == -1 else source.shape[p] for p in pattern)
        strides = tuple(0 if p == -1 else source.strides[p] for p in pattern)
        return [device.view(source, 0, shape, strides)]

    return run


def indexed_view(device: Device, source: DeviceArray, index: tuple[int | slice, ...]) -> DeviceArray:
    """numpy's basic indexing of a device array, as a view: numpy computes the shape, strides
    and offset on a stand-in array of one-byte elements that is never read."""
    stand_in = np.lib.stride_tricks.as_strided(
        np.zeros(1, np.uint8), tuple(source.shape), tuple(source.strides), writeable=False
    )
    view = stand_in[(*index, Ellipsis)]  # Ellipsis: a 0-d view, never a numpy scalar
    offset = view.__array_interface__["data"][0] - stand_in.__array_interface__["data"][0]
    return device.view(source, offset, view.shape, view.strides)


@device_step(Subtensor)
def _subtensor(builder: ProgramBuilder, op: Subtensor) -> Step:
    entries = op.entries

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        source = as_device(device, operands[0])
        scalars = [np.asarray(v) for v in operands[1:]]
        index = _checked_index(_ShapeOnly(source.shape), numpy_index(entries, scalars), op.name)  # type: ignore[arg-type]
        return [indexed_view(device, source, index)]

    return run


class _ShapeOnly:
    """What _checked_index reads of an array: its shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)


@device_step(Reshape)
def _reshape(builder: ProgramBuilder, op: Reshape) -> Step:
    source_type = op.operands[0].type
    kernel = copy_kernel(builder, source_type.dtype, source_type.rank)
    entries = op.shape_entries

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        source = contiguous(device, kernel, as_device(device, operands[0]))
        scalars = [np.asarray(v) for v in operands[1:]]
        # numpy checks the sizes and infers -1 on a stand-in with the source's shape.
        shape = np.empty(tuple(source.shape), np.uint8).reshape(_fill_shape(entries, scalars)).shape
        return [device.view(source, 0, shape, contiguous_strides(shape))]

    return run


@device_step(Alloc)
def _alloc(builder: ProgramBuilder, op: Alloc) -> Step:
    result = op.results[0].type
    kernel = copy_kernel(builder, result.dtype, result.rank)

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        value, sizes = operands[0], [np.asarray(s) for s in operands[1:]]
        stand_in = np.zeros(tuple(value.shape), result.dtype.numpy)  # only its shape is read
        shape = op.evaluate([stand_in, *sizes])[0].shape
        out = device.empty(shape, result.dtype)
        source = value.astype(result.dtype.numpy) if isinstance(value, np.ndarray) else value
        launch_copy(device, kernel, out, as_device(device, source))
        return [out]

    return run


@device_step(Concatenate)
def _concatenate(builder: ProgramBuilder, op: Concatenate) -> Step:
    result = op.results[0].type
    kernel = copy_kernel(builder, result.dtype, result.rank)
    axis = op.axis

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        parts = [as_device(device, v) for v in operands]
        shape = list(parts[0].shape)
        shape[axis] = sum(p.shape[axis] for p in parts)
        out = device.empty(tuple(shape), result.dtype)
        start = 0
        for part in parts:
            index = tuple(
                slice(start, start + part.shape[axis]) if a == axis else slice(None)
                for a in range(len(shape))
            )
            launch_copy(device, kernel, indexed_view(device, out, index), part)
            start += part.shape[axis]
        return [out]

    return run


@device_step(IncSubtensor)
def _inc_subtensor(builder: ProgramBuilder, op: IncSubtensor) -> Step:
    result = op.results[0].type
    copy = copy_kernel(builder, result.dtype, result.rank)
    region_rank = op.operands[0].type.rank  # the region's rank is at most this; kernels per rank
    kernels = {
        r: copy_kernel(builder, result.dtype, r, "copy" if op.set else "add") for r in range(region_rank + 1)
    }
    entries = op.entries

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        base = as_device(device, operands[0])
        update = operands[1]
        if isinstance(update, np.ndarray):
            update = update.astype(result.dtype.numpy)
        update = as_device(device, update)
        out = device.empty(tuple(base.shape), result.dtype)
        launch_copy(device, copy, out, base)
        scalars = [np.asarray(v) for v in operands[2:]]
        index = _checked_index(_ShapeOnly(base.shape), numpy_index(entries, scalars), op.name)  # type: ignore[arg-type]
        region = indexed_view(device, out, index)
        launch_copy(device, kernels[len(region.shape)], region, update)
        return [out]

    return run
