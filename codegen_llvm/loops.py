"""Loop nests over strided arrays: the outer part of every elementwise kernel.

`emit_elementwise_loop` runs a scalar body over an iteration space. It emits
two versions: a flat loop over contiguous memory that LLVM vectorises, taken
when every full-size operand is C-contiguous at run time, and a general
strided nest that handles any layout (transposed, sliced, negative strides)
and broadcasting by zero strides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from llvmlite import ir as ll

from ..ir import DType
from .types import I1, I64, I8_PTR, load_element, memory_type, store_element


@dataclass
class ArrayRef:
    """A strided array at run time: base pointer, shape and byte strides (all i64)."""

    dtype: DType
    pointer: ll.Value
    shape: list[ll.Value]
    strides: list[ll.Value]
    static_shape: tuple[int | None, ...]


@contextmanager
def counted_loop(builder: ll.IRBuilder, count: ll.Value, name: str) -> Iterator[ll.Value]:
    """for (i = 0; i < count; ++i) { <body> }"""
    before = builder.block
    header = builder.append_basic_block(f"{name}.header")
    body = builder.append_basic_block(f"{name}.body")
    done = builder.append_basic_block(f"{name}.done")
    builder.branch(header)
    builder.position_at_end(header)
    index = builder.phi(I64, name=f"{name}.i")
    index.add_incoming(I64(0), before)
    builder.cbranch(builder.icmp_signed("<", index, count), body, done)
    builder.position_at_end(body)
    yield index
    following = builder.add(index, I64(1), name=f"{name}.next", flags=["nsw"])
    index.add_incoming(following, builder.block)
    builder.branch(header)
    builder.position_at_end(done)


Body = Callable[[list[ll.Value]], list[ll.Value]]


def emit_elementwise_loop(
    builder: ll.IRBuilder,
    extent: Sequence[ll.Value],
    static_extent: Sequence[int | None],
    operands: Sequence[ArrayRef],
    outputs: Sequence[tuple[DType, ll.Value]],
    body: Body,
) -> None:
    """outputs[k][i] = body(operands[...][i])[k] for every index i of `extent`.

    Outputs are C-contiguous buffers of shape `extent`. Operands are aligned to
    the right and broadcast where their static dimension is 1 or missing.
    """
    rank = len(extent)
    strides = [_broadcast_strides(op, static_extent) for op in operands]
    is_full = [all(x is not None for x in s) for s in strides]
    is_scalar = [all(x is None for x in s) for s in strides]
    if rank == 0 or not all(f or s for f, s in zip(is_full, is_scalar, strict=True)):
        # Partial broadcasting (a row against a matrix): only the strided nest applies.
        _strided_nest(builder, extent, operands, strides, outputs, body, rank)
        return
    full = [op for op, f in zip(operands, is_full, strict=True) if f]
    flat_block = builder.append_basic_block("flat")
    nest_block = builder.append_basic_block("strided")
    after = builder.append_basic_block("after")
    builder.cbranch(_all_contiguous(builder, extent, full), flat_block, nest_block)
    builder.position_at_end(flat_block)
    _flat_loop(builder, extent, operands, is_scalar, outputs, body)
    builder.branch(after)
    builder.position_at_end(nest_block)
    _strided_nest(builder, extent, operands, strides, outputs, body, rank)
    builder.branch(after)
    builder.position_at_end(after)


def _broadcast_strides(op: ArrayRef, static_extent: Sequence[int | None]) -> list[ll.Value | None]:
    """Per iteration axis: the operand's byte stride, or None where it is broadcast."""
    rank, offset = len(static_extent), len(static_extent) - len(op.shape)
    result: list[ll.Value | None] = []
    for axis in range(rank):
        local = axis - offset
        if local < 0 or (op.static_shape[local] == 1 and static_extent[axis] != 1):
            result.append(None)
        else:
            result.append(op.strides[local])
    return result


def _all_contiguous(builder: ll.IRBuilder, extent: Sequence[ll.Value], arrays: Sequence[ArrayRef]) -> ll.Value:
    ok: ll.Value = I1(1)
    for arr in arrays:
        expected: ll.Value = I64(arr.dtype.itemsize)
        for axis in reversed(range(len(extent))):
            size_one = builder.icmp_signed("==", extent[axis], I64(1))
            matches = builder.icmp_signed("==", arr.strides[axis], expected)
            ok = builder.and_(ok, builder.or_(size_one, matches))
            expected = builder.mul(expected, extent[axis])
    return ok


def _flat_loop(
    builder: ll.IRBuilder,
    extent: Sequence[ll.Value],
    operands: Sequence[ArrayRef],
    scalar_like: Sequence[bool],
    outputs: Sequence[tuple[DType, ll.Value]],
    body: Body,
) -> None:
    total: ll.Value = I64(1)
    for dim in extent:
        total = builder.mul(total, dim)
    hoisted = [load_element(builder, op.dtype, op.pointer) if s else None
               for op, s in zip(operands, scalar_like, strict=True)]
    typed_in = [builder.bitcast(op.pointer, memory_type(op.dtype).as_pointer()) for op in operands]
    typed_out = [builder.bitcast(ptr, memory_type(d).as_pointer()) for d, ptr in outputs]
    with counted_loop(builder, total, "flat") as i:
        values = [
            h if h is not None else load_element(builder, op.dtype, builder.gep(p, [i]))
            for h, op, p in zip(hoisted, operands, typed_in, strict=True)
        ]
        for (dtype, _), ptr, value in zip(outputs, typed_out, body(values), strict=True):
            store_element(builder, dtype, value, builder.gep(ptr, [i]))


def _strided_nest(
    builder: ll.IRBuilder,
    extent: Sequence[ll.Value],
    operands: Sequence[ArrayRef],
    strides: Sequence[Sequence[ll.Value | None]],
    outputs: Sequence[tuple[DType, ll.Value]],
    body: Body,
    rank: int,
) -> None:
    typed_out = [builder.bitcast(ptr, memory_type(d).as_pointer()) for d, ptr in outputs]

    def level(axis: int, pointers: list[ll.Value], linear: ll.Value) -> None:
        if axis == rank:
            values = [load_element(builder, op.dtype, p) for op, p in zip(operands, pointers, strict=True)]
            for (dtype, _), ptr, value in zip(outputs, typed_out, body(values), strict=True):
                store_element(builder, dtype, value, builder.gep(ptr, [linear]))
            return
        with counted_loop(builder, extent[axis], f"axis{axis}") as i:
            moved = [
                p if s[axis] is None else builder.gep(p, [builder.mul(i, s[axis])])
                for p, s in zip(pointers, strides, strict=True)
            ]
            level(axis + 1, moved, builder.add(builder.mul(linear, extent[axis]), i))

    level(0, [builder.bitcast(op.pointer, I8_PTR) for op in operands], I64(0))
