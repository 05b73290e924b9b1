"""Integer-array indexing on the GPU: tx.gather and tx.scatter_add.

Both are grid-stride kernels with one thread per element, independent of
each other (so they also run in the host's grid emulator):

`..._gather_<n>`: one thread per output element. Its linear index is split into
the output's multi-index; the leading `r` coordinates address the index
arrays (read with their own strides, 0 along broadcast axes), the trailing
ones the source's trailing axes.

`..._scatter_add_<n>`: the base is first copied into the (C-contiguous)
result (copy.py's strided copy kernel), then one thread per update element
adds it at its indexed position with an atomic add (`atomicrmw fadd` / `add`), so repeated
indices accumulate as with `np.add.at` (in an unspecified order: float sums
of repeats may differ from the CPU's in the last bits).

Every index is wrapped as numpy does (negative counts from the end) and
checked against its axis before anything is read at it. A bad one is never
used: the thread records the failure in the device's error word (int64[4],
zero when a call starts): it compare-and-swaps word[0] from 0 to
check + 1, where `check` numbers the (op, axis) pairs of the function as
`ir.ops.indexing.index_checks` does (the CPU's status numbering), and the
thread that wins writes word[1] = the index and word[2] = the axis size.

Parameters, in order (r: the index rank, k: the number of index arrays):
  gather:      i64 n; out; source; index[k]; i64* word; i64 dims[rank(out)];
               i64 sizes[k] (source.shape[:k]); i64 source_strides[rank(source)];
               per index array i64 strides[r]
  scatter_add: i64 n (update elements); out; updates; index[k]; i64* word;
               i64 dims[rank(updates)]; i64 sizes[k]; i64 out_strides[rank(base)];
               i64 update_strides[rank(updates)]; per index array i64 strides[r]
Strides are in elements; the result is C-contiguous.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..codegen_llvm import llvm_ir as ll
from ..codegen_llvm.types import I64, memory_type
from ..ir import DType, Function, Operation, TcCompilationError
from ..ir.ops.indexing import Gather, ScatterAdd, index_checks
from .copy import copy_kernel, launch_copy
from .grid import KernelTarget
from .launch import BLOCK, Device, DeviceArray, broadcast_shape, contiguous_strides, element_strides, grid_for
from .loops import grid_stride_loop, mark_noalias
from .program import ProgramBuilder, Runtime, Step, as_device, device_step


def first_check(op: Operation) -> int:
    """The number of `op`'s first index check (its axis 0) in its function's `index_checks`."""
    block = op.parent
    if block is None:
        raise TcCompilationError(f"'{op.name}' at {op.location} is not in a function")
    checks = index_checks(Function("", block))  # reads only the body's ops
    for number, (checked, _) in enumerate(checks):
        if checked is op:
            return number
    raise TcCompilationError(f"'{op.name}' at {op.location} is not a top-level op of its function")


def _coordinates(b: ll.IRBuilder, index: ll.Value, dims: Sequence[ll.Value]) -> list[ll.Value]:
    """The multi-index of linear (C-order) `index` in an array of shape `dims`."""
    coords: list[ll.Value] = [I64(0)] * len(dims)
    rest = index
    for axis in reversed(range(len(dims))):
        if axis == 0:
            coords[axis] = rest
            break
        coords[axis] = b.urem(rest, dims[axis])
        rest = b.udiv(rest, dims[axis])
    return coords


def _dot(b: ll.IRBuilder, coords: Sequence[ll.Value], strides: Sequence[ll.Value]) -> ll.Value:
    total: ll.Value = I64(0)
    for coord, stride in zip(coords, strides, strict=True):
        total = b.add(total, b.mul(coord, stride))
    return total


def _load_index(b: ll.IRBuilder, dtype: DType, pointer: ll.Value) -> ll.Value:
    value = b.load(pointer)
    if value.type.width == 64:
        return value
    return b.sext(value, I64) if dtype.is_signed else b.zext(value, I64)


def _record_failure(b: ll.IRBuilder, word: ll.Value, check: int, index: ll.Value, size: ll.Value) -> None:
    """word[0]: 0 -> check + 1, atomically; the winner writes the index and the axis size."""
    swapped = b.cmpxchg(b.gep(word, [I64(0)]), I64(0), I64(check + 1), "monotonic", "monotonic")
    won = b.extract_value(swapped, 1)
    with b.if_then(won):
        b.store(index, b.gep(word, [I64(1)]))
        b.store(size, b.gep(word, [I64(2)]))


def _checked_offset(
    b: ll.IRBuilder,
    word: ll.Value,
    first: int,
    dtypes: Sequence[DType],
    pointers: Sequence[ll.Value],
    index_coords: Sequence[ll.Value],
    index_strides: Sequence[Sequence[ll.Value]],
    sizes: Sequence[ll.Value],
    strides: Sequence[ll.Value],
    skip: ll.Block,
) -> ll.Value:
    """sum(wrapped index j * strides[j]); a bad index records the failure and branches to `skip`."""
    offset: ll.Value = I64(0)
    for j, (dtype, pointer) in enumerate(zip(dtypes, pointers, strict=True)):
        at = _dot(b, index_coords, index_strides[j])
        value = _load_index(b, dtype, b.gep(pointer, [at]))
        size = sizes[j]
        wrapped = b.select(b.icmp_signed("<", value, I64(0)), b.add(value, size), value)
        # Unsigned: a wrapped index still negative (below -size) looks huge, so one compare does both ends.
        bad = b.icmp_unsigned(">=", wrapped, size)
        fail = b.append_basic_block(f"index{j}.fail")
        ok = b.append_basic_block(f"index{j}.ok")
        b.cbranch(bad, fail, ok)
        b.position_at_end(fail)
        _record_failure(b, word, first + j, value, size)
        b.branch(skip)
        b.position_at_end(ok)
        offset = b.add(offset, b.mul(wrapped, strides[j]))
    return offset


def _split(args: Sequence[ll.Value], counts: Sequence[int]) -> list[list[ll.Value]]:
    parts, start = [], 0
    for count in counts:
        parts.append(list(args[start : start + count]))
        start += count
    return parts


def emit_gather(target: KernelTarget, module: ll.Module, name: str, op: Gather, first: int) -> None:
    """The gather kernel of `op` (see the module's docstring for its parameters)."""
    source = op.operands[0].type
    index_types = [v.type for v in op.indices]
    k, rank, source_rank = len(index_types), op.results[0].type.rank, source.rank
    r = rank - (source_rank - k)
    element = memory_type(source.dtype)
    pointers = [element.as_pointer(), element.as_pointer()]
    pointers += [memory_type(t.dtype).as_pointer() for t in index_types] + [I64.as_pointer()]
    counts = [rank, k, source_rank] + [r] * k
    fn = target.kernel(module, name, [I64, *pointers] + [I64] * sum(counts))
    mark_noalias(fn)
    n, out, src = fn.args[0], fn.args[1], fn.args[2]
    index_pointers, word = fn.args[3 : 3 + k], fn.args[3 + k]
    dims, sizes, source_strides, *index_strides = _split(fn.args[4 + k :], counts)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    with grid_stride_loop(target, b, n, "element") as index:
        done = b.append_basic_block("element.next")
        coords = _coordinates(b, index, dims)
        offset = _checked_offset(
            b,
            word,
            first,
            [t.dtype for t in index_types],
            index_pointers,
            coords[:r],
            index_strides,
            sizes,
            source_strides[:k],
            done,
        )
        offset = b.add(offset, _dot(b, coords[r:], source_strides[k:]))
        b.store(b.load(b.gep(src, [offset])), b.gep(out, [index]))
        b.branch(done)
        b.position_at_end(done)
    b.ret_void()


def emit_scatter_add(target: KernelTarget, module: ll.Module, name: str, op: ScatterAdd, first: int) -> None:
    """The atomic-add kernel of `op` (see the module's docstring for its parameters)."""
    base, updates = op.operands[0].type, op.operands[1].type
    index_types = [v.type for v in op.indices]
    k, base_rank, rank = len(index_types), base.rank, updates.rank
    r = rank - (base_rank - k)
    element = memory_type(base.dtype)
    pointers = [element.as_pointer(), element.as_pointer()]
    pointers += [memory_type(t.dtype).as_pointer() for t in index_types] + [I64.as_pointer()]
    counts = [rank, k, base_rank, rank] + [r] * k
    fn = target.kernel(module, name, [I64, *pointers] + [I64] * sum(counts))
    mark_noalias(fn)
    n, out, upd = fn.args[0], fn.args[1], fn.args[2]
    index_pointers, word = fn.args[3 : 3 + k], fn.args[3 + k]
    dims, sizes, out_strides, update_strides, *index_strides = _split(fn.args[4 + k :], counts)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    with grid_stride_loop(target, b, n, "element") as index:
        done = b.append_basic_block("element.next")
        coords = _coordinates(b, index, dims)
        offset = _checked_offset(
            b,
            word,
            first,
            [t.dtype for t in index_types],
            index_pointers,
            coords[:r],
            index_strides,
            sizes,
            out_strides[:k],
            done,
        )
        offset = b.add(offset, _dot(b, coords[r:], out_strides[k:]))
        value = b.load(b.gep(upd, [_dot(b, coords, update_strides)]))
        kind = "fadd" if base.dtype.is_float else "add"
        b.atomic_rmw(kind, b.gep(out, [offset]), value, "monotonic")
        b.branch(done)
        b.position_at_end(done)
    b.ret_void()


def _index_arguments(indices: Sequence[DeviceArray], extent: tuple[int, ...]) -> list[int]:
    values: list[int] = []
    for array in indices:
        values += element_strides(array, extent)
    return values


@device_step(Gather)
def _gather_step(builder: ProgramBuilder, op: Gather) -> Step:  # type: ignore[override]
    name = builder.kernel_name("gather")
    emit_gather(builder.target, builder.module, name, op, first_check(op))
    dtype = op.results[0].type.dtype
    k = len(op.indices)
    r = op.results[0].type.rank - (op.operands[0].type.rank - k)

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        source, *indices = (as_device(device, v) for v in operands)
        extent = broadcast_shape([tuple(i.shape) for i in indices], r)
        shape = extent + tuple(source.shape[k:])
        result = device.empty(shape, dtype)
        n = math.prod(shape)
        if n == 0:
            return [result]
        values: list[int] = [n, result.pointer, source.pointer, *[i.pointer for i in indices]]
        values += [device.error_word.pointer, *shape, *source.shape[:k], *source.strides]
        values += _index_arguments(indices, extent)
        device.launch(name, grid_for(n, device, name), BLOCK, values)
        return [result]

    return run


@device_step(ScatterAdd)
def _scatter_add_step(builder: ProgramBuilder, op: ScatterAdd) -> Step:  # type: ignore[override]
    base_type = op.operands[0].type
    dtype, base_rank = base_type.dtype, base_type.rank
    copy = copy_kernel(builder, dtype, base_rank)
    add = builder.kernel_name("scatter_add")
    emit_scatter_add(builder.target, builder.module, add, op, first_check(op))
    k = len(op.indices)
    r = op.operands[1].type.rank - (base_rank - k)

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        base, updates, *indices = (as_device(device, v) for v in operands)
        shape = tuple(base.shape)
        result = device.empty(shape, dtype)
        launch_copy(device, copy, result, base)
        extent = tuple(updates.shape[:r])
        count = math.prod(updates.shape)
        if count == 0:
            return [result]
        values: list[int] = [count, result.pointer, updates.pointer, *[i.pointer for i in indices]]
        values += [device.error_word.pointer, *updates.shape, *shape[:k], *contiguous_strides(shape)]
        values += [*updates.strides, *_index_arguments(indices, extent)]
        device.launch(add, grid_for(count, device, add), BLOCK, values)
        return [result]

    return run


__all__ = ["emit_gather", "emit_scatter_add", "first_check"]
