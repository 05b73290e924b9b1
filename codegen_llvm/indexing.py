"""Integer-array indexing as loop nests: tx.gather and tx.scatter_add.

Both loop over the index space (the broadcast shape of the index arrays),
read each index, check it against its axis and wrap a negative one, then
copy (gather) or add (scatter-add) the trailing block of the source. A bad
index never reaches memory: it branches to a failure exit that records the
index and the axis size in the caller's `dims` array (past the shapes and
strides) and returns `FIRST_INDEX_STATUS + check`, where `check` numbers
the (op, axis) pairs of the function in program order (`ir.ops.indexing.index_checks`).
One thread, plain scalar loops: the results are C-contiguous.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..ir import Value
from ..ir.ops.indexing import FIRST_INDEX_STATUS, Gather, ScatterAdd, gathered_shape
from . import llvm_ir as ll
from .nest import ArrayRef, IterationSpace, byte_size, contiguous_over
from .terms import LLVMSizes
from .types import I1, I8_PTR, I32, I64, load_element, store_element


class IndexFailure:
    """The failure exit shared by every index check of one entry point."""

    def __init__(self, function: ll.Function, dims: ll.Value, diagnostics_offset: int) -> None:
        self.block = function.append_basic_block("index_error")
        self.dims = dims
        self.offset = diagnostics_offset
        self.incoming: list[tuple[ll.Value, ll.Block]] = []

    def check(self, b: ll.IRBuilder, index: ll.Value, size: ll.Value, check: int) -> ll.Value:
        """`index` wrapped into [0, size), after branching away if it lies outside [-size, size)."""
        wrapped = b.select(b.icmp_signed("<", index, I64(0)), b.add(index, size), index)
        # Unsigned: a negative `wrapped` (index < -size) looks huge, so one compare covers both ends.
        bad = b.icmp_unsigned(">=", wrapped, size)
        fail = b.append_basic_block(f"index_check{check}.fail")
        ok = b.append_basic_block(f"index_check{check}.ok")
        b.cbranch(bad, fail, ok)
        b.position_at_end(fail)
        b.store(index, b.gep(self.dims, [I64(self.offset)]))
        b.store(size, b.gep(self.dims, [I64(self.offset + 1)]))
        status = I32(FIRST_INDEX_STATUS + check)
        if b.function is self.block.parent:
            b.branch(self.block)
            self.incoming.append((status, fail))
        else:  # in an op's outlined loops (outline.py): the call site forwards the status
            b.ret(status)
        b.position_at_end(ok)
        return wrapped

    def forward(self, b: ll.IRBuilder, status: ll.Value) -> None:
        """Leave through this exit with a status computed at run time (a scan step's failed
        check, renumbered); the diagnostics are already in place."""
        self.incoming.append((status, b.block))
        b.branch(self.block)

    def finish(self, release: Callable[[ll.IRBuilder], None]) -> None:
        """Close the exit: `release` frees the temporaries, then the status is returned."""
        b = ll.IRBuilder(self.block)
        if not self.incoming:
            b.unreachable()
            return
        status = b.phi(I32, name="index_status")
        for code, block in self.incoming:
            status.add_incoming(code, block)
        release(b)
        b.ret(status)


def indexing_extent(
    b: ll.IRBuilder, op: Gather | ScatterAdd, arrays: dict[Value, ArrayRef]
) -> list[ll.Value]:
    """The run-time shape of the gathered block: broadcast(index shapes) + source.shape[k:]."""
    source, indices = arrays[op.operands[0]], [arrays[v].sizes() for v in op.indices]
    extent = gathered_shape(LLVMSizes(b), source.sizes(), indices)
    return [I64(d) if isinstance(d, int) else d for d in extent]


def _load_index(b: ll.IRBuilder, array: ArrayRef, pointer: ll.Value) -> ll.Value:
    value = load_element(b, array.dtype, pointer)
    if value.type.width == 64:
        return value
    return b.sext(value, I64) if array.dtype.is_signed else b.zext(value, I64)


def _index_nest(
    b: ll.IRBuilder,
    extent: Sequence[ll.Value],
    indices: Sequence[ArrayRef],
    at_point: Callable[[list[ll.Value], list[ll.Value]], None],
) -> None:
    """Call `at_point(index values, loop counters)` for every point of the index space."""
    space = IterationSpace.over(extent, [None] * len(extent), indices)

    def load(pointers: list[ll.Value], counters: list[ll.Value]) -> None:
        at_point([_load_index(b, i, p) for i, p in zip(indices, pointers, strict=True)], counters)

    space.walk(b, "index", [i.pointer for i in indices], load)


def _block_walk(
    b: ll.IRBuilder,
    shape: Sequence[ll.Value],
    strides: Sequence[Sequence[ll.Value]],
    pointers: Sequence[ll.Value],
    body: Callable[[list[ll.Value]], None],
) -> None:
    """Call `body(pointers)` for every element of `shape`, each pointer moved by its strides."""
    IterationSpace(shape, [list(s) for s in strides]).walk(b, "block", pointers, lambda p, _: body(p))


def _checked_offset(
    b: ll.IRBuilder,
    failure: IndexFailure,
    first_check: int,
    values: list[ll.Value],
    shape: Sequence[ll.Value],
    strides: Sequence[ll.Value],
) -> ll.Value:
    """The byte offset of the addressed block, each index checked and wrapped."""
    offset: ll.Value = I64(0)
    for axis, value in enumerate(values):
        wrapped = failure.check(b, value, shape[axis], first_check + axis)
        offset = b.add(offset, b.mul(wrapped, strides[axis]))
    return offset


def emit_gather(
    b: ll.IRBuilder,
    op: Gather,
    arrays: dict[Value, ArrayRef],
    output: ArrayRef,
    failure: IndexFailure,
    first_check: int,
) -> None:
    """output (C-contiguous) = source[i0, ..., ik]."""
    source = arrays[op.operands[0]]
    indices = [arrays[v] for v in op.indices]
    k = len(indices)
    index_extent = output.shape[: len(output.shape) - (len(source.shape) - k)]
    index_rank = len(index_extent)
    dtype = source.dtype
    trailing_shape = source.shape[k:]
    # Rows of a C-contiguous source (an embedding lookup) are copied whole.
    contiguous = contiguous_over(b, trailing_shape, source.strides[k:], dtype.itemsize)
    block_bytes = byte_size(b, trailing_shape, dtype.itemsize)

    def at_point(values: list[ll.Value], counters: list[ll.Value]) -> None:
        offset = _checked_offset(b, failure, first_check, values, source.shape, source.strides)
        start = b.gep(b.bitcast(source.pointer, I8_PTR), [offset])
        position: ll.Value = I64(0)
        for counter, stride in zip(counters, output.strides[:index_rank], strict=True):
            position = b.add(position, b.mul(counter, stride))
        target = b.gep(b.bitcast(output.pointer, I8_PTR), [position])

        def copy(pointers: list[ll.Value]) -> None:
            store_element(b, dtype, load_element(b, dtype, pointers[0]), pointers[1])

        trailing = [source.strides[k:], output.strides[index_rank:]]
        if not trailing_shape:
            copy([start, target])
            return
        with b.if_else(contiguous, likely=True) as (whole, strided):
            with whole:
                memcpy = b.module.declare_intrinsic("llvm.memcpy", [I8_PTR, I8_PTR, I64])
                b.call(memcpy, [target, start, block_bytes, I1(0)])
            with strided:
                _block_walk(b, trailing_shape, trailing, [start, target], copy)

    _index_nest(b, index_extent, indices, at_point)


def emit_scatter_add(
    b: ll.IRBuilder,
    op: ScatterAdd,
    arrays: dict[Value, ArrayRef],
    output: ArrayRef,
    failure: IndexFailure,
    first_check: int,
) -> None:
    """output (C-contiguous) = base; output[i0, ..., ik] += updates, repeats accumulating."""
    base, updates = arrays[op.operands[0]], arrays[op.operands[1]]
    indices = [arrays[v] for v in op.indices]
    k = len(indices)
    dtype = base.dtype

    def copy(pointers: list[ll.Value]) -> None:
        store_element(b, dtype, load_element(b, dtype, pointers[0]), pointers[1])

    _block_walk(b, base.shape, [base.strides, output.strides], [base.pointer, output.pointer], copy)

    index_rank = len(updates.shape) - (len(base.shape) - k)

    def at_point(values: list[ll.Value], counters: list[ll.Value]) -> None:
        offset = _checked_offset(b, failure, first_check, values, base.shape, output.strides)
        target = b.gep(b.bitcast(output.pointer, I8_PTR), [offset])
        source: ll.Value = I64(0)  # where this point's block starts in the (strided) updates
        for counter, stride in zip(counters, updates.strides[:index_rank], strict=True):
            source = b.add(source, b.mul(counter, stride))
        start = b.gep(b.bitcast(updates.pointer, I8_PTR), [source])

        def add(pointers: list[ll.Value]) -> None:
            total = load_element(b, dtype, pointers[0])
            value = load_element(b, dtype, pointers[1])
            summed = b.fadd(total, value) if dtype.is_float else b.add(total, value)
            store_element(b, dtype, summed, pointers[0])

        trailing = [output.strides[k:], updates.strides[index_rank:]]
        _block_walk(b, base.shape[k:], trailing, [target, start], add)

    _index_nest(b, updates.shape[:index_rank], indices, at_point)


__all__ = ["IndexFailure", "emit_gather", "emit_scatter_add", "indexing_extent"]
