"""Reductions as loop nests: initialise the result, accumulate every element, finish.

Loops over the source on one thread. When the innermost axis is reduced,
its run is accumulated in a register; float sums and products of that run
may be reassociated (LLVM keeps several partial sums in vector lanes), so
the last bits can differ from numpy's pairwise sums, as they do between
numpy and any BLAS. The run-time checks (a non-empty selection for
max/min/argmax/argmin) have passed before the call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from llvmlite import ir as ll

from ..ir import DType
from ..ir.ops.reduce import Reduce
from .control import counted_loop
from .loops import ArrayRef
from .scalar import ScalarEmitter, emit_cast
from .types import I8_PTR, I64, load_element, memory_type, register_type, store_element


@dataclass
class Producer:
    """Where a reduction's elements come from: operands walked with per-axis byte strides
    over the source's shape (None: broadcast along that axis) and a function of their
    loaded values (the identity for a plain array; a kernel body when fused)."""

    operands: list[ArrayRef]
    strides: list[list[ll.Value | None]]
    compute: Callable[[ll.IRBuilder, list[ll.Value]], ll.Value]


def _identity(kind: str, dtype: DType) -> ll.Constant:
    ty = register_type(dtype)
    if kind in ("sum", "mean"):
        return ll.Constant(ty, 0.0 if dtype.is_float else 0)
    if kind == "prod":
        return ll.Constant(ty, 1.0 if dtype.is_float else 1)
    largest = kind in ("min", "argmin")  # start from the far end of the ordering
    if dtype.is_float:
        return ll.Constant(ty, float("inf") if largest else float("-inf"))
    if dtype.is_bool:
        return ll.Constant(ty, int(largest))
    info = np.iinfo(dtype.numpy)
    return ll.Constant(ty, int(info.max if largest else info.min))


@dataclass
class Member:
    """One reduction of a group that walks the same operands: its op, where its result goes,
    its scratch (argmax/argmin's best values) and how it computes its element."""

    op: Reduce
    output: ll.Value
    scratch: ll.Value | None
    compute: Callable[[ll.IRBuilder, list[ll.Value]], ll.Value]
    in_dtype: DType


def emit_reduce(
    emitter: ScalarEmitter,
    op: Reduce,
    source: ArrayRef,
    output: ll.Value,
    out_extent: list[ll.Value],
    scratch: ll.Value | None,
    producer: Producer | None = None,
) -> None:
    """Reduce `source` into the contiguous `output` (shape `out_extent`).

    With a `producer`, `source` only gives the shape: each element is computed
    where it is reduced, from the producer's operands (a fused elementwise kernel),
    so the source is never written to memory.
    """
    if producer is None:
        producer = Producer([source], [list(source.strides)], lambda builder, values: values[0])
    member = Member(op, output, scratch, producer.compute, source.dtype)
    emit_reductions(emitter, [member], producer.operands, producer.strides, source.shape, out_extent)


def emit_reductions(
    emitter: ScalarEmitter,
    members: list[Member],
    operands: list[ArrayRef],
    strides: list[list[ll.Value | None]],
    shape: list[ll.Value],
    out_extent: list[ll.Value],
) -> None:
    """Reductions over the same axes of the same operands, in one walk over them.

    `shape` is the reduced space; each member computes its element from the
    operands' values (read once for all of them) and keeps its own accumulator.
    A group of several members holds no argmax/argmin.
    """
    b = emitter.b
    first = members[0].op
    axes, rank = set(first.axes), len(shape)
    arg = first.kind in ("argmax", "argmin")
    assert not arg or len(members) == 1
    acc_dtypes = [
        m.in_dtype if m.op.kind in ("argmax", "argmin", "max", "min") else m.op.results[0].type.dtype
        for m in members
    ]
    accumulators = [
        b.bitcast(m.scratch if arg else m.output, memory_type(d).as_pointer())
        for m, d in zip(members, acc_dtypes, strict=True)
    ]
    indices = b.bitcast(members[0].output, I64.as_pointer()) if arg else None
    count_out: ll.Value = I64(1)
    for dim in out_extent:
        count_out = b.mul(count_out, dim)
    with counted_loop(b, count_out, "init") as o:
        for m, d, acc in zip(members, acc_dtypes, accumulators, strict=True):
            store_element(b, d, _identity(m.op.kind, d), b.gep(acc, [o]))
        if indices is not None:
            b.store(I64(0), b.gep(indices, [o]))

    # The output element of each input index: contiguous strides over the kept axes.
    kept = [a for a in range(rank) if a not in axes]
    out_stride: dict[int, ll.Value] = {}
    running: ll.Value = I64(1)
    for a in reversed(kept):
        out_stride[a] = running
        running = b.mul(running, shape[a])
    single_axis = first.axes[0] if arg and len(first.axes) == 1 and rank > 1 else None

    # A reduced innermost axis accumulates in registers, so LLVM can vectorise the run.
    in_register = not arg and rank > 0 and (rank - 1) in axes

    def load(pointers: list[ll.Value]) -> list[ll.Value]:
        values = [load_element(b, arr.dtype, p) for arr, p in zip(operands, pointers, strict=True)]
        return [m.compute(b, values) for m in members]

    def advance(pointers: list[ll.Value], axis: int, i: ll.Value) -> list[ll.Value]:
        return [
            p if s[axis] is None else b.gep(p, [b.mul(i, s[axis])])
            for p, s in zip(pointers, strides, strict=True)
        ]

    def visit(
        axis: int, pointers: list[ll.Value], out_index: ll.Value, flat: ll.Value, position: ll.Value
    ) -> None:
        if in_register and axis == rank - 1:
            partials = [_entry_alloca(b, register_type(d)) for d in acc_dtypes]
            for m, d, partial in zip(members, acc_dtypes, partials, strict=True):
                b.store(_identity(m.op.kind, d), partial)

            def run(contiguous: bool) -> None:
                # With unit strides the addresses are typed `p[i]`, which LLVM can vectorise;
                # byte offsets times a run-time stride it cannot.
                typed = [
                    b.bitcast(p, memory_type(arr.dtype).as_pointer())
                    for arr, p in zip(operands, pointers, strict=True)
                ]
                with counted_loop(b, shape[axis], "run") as i:
                    if contiguous:
                        moved = [
                            p if s[axis] is None else b.gep(t, [i])
                            for p, t, s in zip(pointers, typed, strides, strict=True)
                        ]
                    else:
                        moved = advance(pointers, axis, i)
                    values = load(moved)
                    for m, d, partial, value in zip(members, acc_dtypes, partials, values, strict=True):
                        value = emit_cast(emitter, m.in_dtype, d, value)
                        combined = _combine(emitter, m.op.kind, d, b.load(partial), value, reassociate=True)
                        b.store(combined, partial)

            unit: ll.Value = ll.Constant(ll.IntType(1), 1)
            for arr, s in zip(operands, strides, strict=True):
                if s[axis] is not None:
                    unit = b.and_(unit, b.icmp_signed("==", s[axis], I64(max(arr.dtype.itemsize, 1))))
            with b.if_else(unit, likely=True) as (then, otherwise):
                with then:
                    run(contiguous=True)
                with otherwise:
                    run(contiguous=False)
            for m, d, acc, partial in zip(members, acc_dtypes, accumulators, partials, strict=True):
                slot = b.gep(acc, [out_index])
                current = load_element(b, d, slot)
                store_element(b, d, _combine(emitter, m.op.kind, d, current, b.load(partial)), slot)
            return
        if axis == rank:
            values = load(pointers)
            for m, d, acc, value in zip(members, acc_dtypes, accumulators, values, strict=True):
                slot = b.gep(acc, [out_index])
                current = load_element(b, d, slot)
                if arg:
                    assert indices is not None
                    take = _better(emitter, m.op.kind, m.in_dtype, value, current)
                    store_element(b, d, b.select(take, value, current), slot)
                    where = b.gep(indices, [out_index])
                    b.store(
                        b.select(take, position if single_axis is not None else flat, b.load(where)), where
                    )
                    continue
                value = emit_cast(emitter, m.in_dtype, d, value)
                store_element(b, d, _combine(emitter, m.op.kind, d, current, value), slot)
            return
        with counted_loop(b, shape[axis], f"reduce{axis}") as i:
            index = b.add(out_index, b.mul(i, out_stride[axis])) if axis in out_stride else out_index
            next_flat = b.add(b.mul(flat, shape[axis]), i)
            at = i if axis == single_axis else position
            visit(axis + 1, advance(pointers, axis, i), index, next_flat, at)

    visit(0, [b.bitcast(arr.pointer, I8_PTR) for arr in operands], I64(0), I64(0), I64(0))
    for m, acc in zip(members, accumulators, strict=True):
        if m.op.kind != "mean":
            continue
        out_dtype = m.op.results[0].type.dtype
        reduced: ll.Value = I64(1)
        for a in sorted(axes):
            reduced = b.mul(reduced, shape[a])
        divisor = b.sitofp(reduced, register_type(out_dtype))
        with counted_loop(b, count_out, "mean") as o:
            slot = b.gep(acc, [o])
            store_element(b, out_dtype, b.fdiv(load_element(b, out_dtype, slot), divisor), slot)


def _entry_alloca(b: ll.IRBuilder, ty: ll.Type) -> ll.Value:
    """A stack slot in the entry block, where mem2reg turns it into a register (phi)."""
    entry = b.function.entry_basic_block
    at_start = ll.IRBuilder(entry)
    at_start.position_at_start(entry)
    return at_start.alloca(ty)


def _combine(
    e: ScalarEmitter, kind: str, dtype: DType, acc: ll.Value, value: ll.Value, reassociate: bool = False
) -> ll.Value:
    b = e.b
    if kind in ("sum", "mean", "prod") and dtype.is_float:
        combined = b.fadd(acc, value) if kind != "prod" else b.fmul(acc, value)
        if reassociate:
            combined.flags = ["reassoc"]  # llvmlite's builder takes no fast-math flags for fadd
        return combined
    if kind in ("sum", "mean"):
        return b.add(acc, value)
    if kind == "prod":
        return b.mul(acc, value)
    take = _better(e, "argmax" if kind == "max" else "argmin", dtype, value, acc)
    return b.select(take, value, acc)


def _better(e: ScalarEmitter, kind: str, dtype: DType, value: ll.Value, best: ll.Value) -> ll.Value:
    """Whether `value` replaces `best`: strictly better, or the first nan (which then stays)."""
    b = e.b
    strictly = e.cmp(dtype, ">" if kind == "argmax" else "<", value, best)
    if not dtype.is_float:
        return strictly
    first_nan = b.and_(e.isnan(value), b.not_(e.isnan(best)))
    return b.and_(b.or_(strictly, first_nan), b.not_(e.isnan(best)))
