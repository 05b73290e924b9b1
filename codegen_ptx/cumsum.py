"""Cumulative sums on the device: one thread per line along the axis, in order.

Each line is summed one element after the other, as numpy (and the CPU) do,
so float results agree with them to the bit. Parameters: i64 lines, i64 length
(of the axis), the output pointer (C-contiguous), the source pointer, i64
source stride along the axis, then i64 dims[rank - 1] and source strides
[rank - 1] of the other axes (in elements).
"""

from __future__ import annotations

import math

from ..codegen_llvm import llvm_ir as ll
from ..codegen_llvm.control import counted_loop
from ..codegen_llvm.types import I64, load_element, memory_type, register_type, store_element
from ..ir.ops.cumsum import CumSum
from .launch import BLOCK, Device, contiguous_strides, grid_for
from .loops import grid_stride_loop
from .program import ProgramBuilder, Runtime, Step, as_device, device_step


def _emit(builder: ProgramBuilder, op: CumSum) -> str:
    source, result = op.operands[0].type, op.results[0].type
    others = source.rank - 1
    name = builder.kernel_name("cumsum")
    params: list[ll.Type] = [I64, I64, memory_type(result.dtype).as_pointer()]
    params += [memory_type(source.dtype).as_pointer(), I64] + [I64] * (2 * others)
    fn = builder.target.kernel(builder.module, name, params)
    lines, length, out, x, axis_stride = fn.args[:5]
    dims, strides = fn.args[5 : 5 + others], fn.args[5 + others :]
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    total_type = register_type(result.dtype)
    with grid_stride_loop(builder.target, b, lines, "line") as line:
        # The line's first element: the other axes' multi-index, from the last axis back.
        offset: ll.Value = I64(0)
        rest = line
        for k in reversed(range(others)):
            offset = b.add(offset, b.mul(b.urem(rest, dims[k]), strides[k]))
            rest = b.udiv(rest, dims[k])
        total = b.alloca(total_type)
        b.store(ll.Constant(total_type, 0.0 if result.dtype.is_float else 0), total)
        with counted_loop(b, length, "along") as i:
            value = load_element(b, source.dtype, b.gep(x, [b.add(offset, b.mul(i, axis_stride))]))
            value = _widen(b, value, source.dtype, result.dtype)
            running = b.fadd(b.load(total), value) if result.dtype.is_float else b.add(b.load(total), value)
            b.store(running, total)
            store_element(b, result.dtype, running, b.gep(out, [b.add(b.mul(line, length), i)]))
    b.ret_void()
    return name


def _widen(b: ll.IRBuilder, value: ll.Value, source, target) -> ll.Value:  # type: ignore[no-untyped-def]
    """A bool or small integer element as the int64 the sum accumulates in."""
    if source is target or source.is_float:
        return value
    if source.is_bool or not source.is_signed:
        return b.zext(value, register_type(target))
    return b.sext(value, register_type(target))


@device_step(CumSum)
def _cumsum_step(builder: ProgramBuilder, op: CumSum) -> Step:
    kernel = _emit(builder, op)
    axis, dtype = op.axis, op.results[0].type.dtype

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        source = as_device(device, operands[0])
        shape = tuple(source.shape)
        # The result laid out with the axis last (lines are contiguous), then viewed back.
        moved = shape[:axis] + shape[axis + 1 :] + (shape[axis],)
        out = device.empty(moved, dtype)
        lines, length = math.prod(moved[:-1]), shape[axis]
        if lines * length:
            other_dims = [d for k, d in enumerate(shape) if k != axis]
            other_strides = [s for k, s in enumerate(source.strides) if k != axis]
            args = [
                lines,
                length,
                out.pointer,
                source.pointer,
                source.strides[axis],
                *other_dims,
                *other_strides,
            ]
            device.launch(kernel, grid_for(lines, device, kernel), BLOCK, args)
        strides = list(contiguous_strides(moved))
        strides.insert(axis, strides.pop())
        return [device.view(out, 0, shape, tuple(strides))]

    return run
