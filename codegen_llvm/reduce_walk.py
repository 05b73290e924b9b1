"""The loop nest of a reduction (or of several sharing one walk over their operands):
initialise, accumulate every element (float sums in blocks, see reduce.py), finish."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from ..ir import DType
from . import llvm_ir as ll
from .control import SHORT_RUN, SHORT_RUNS, counted_loop
from .gemm import entry_alloca
from .nest import ArrayRef, IterationSpace
from .reduce_block import (
    add_compensated,
    better,
    combine,
    identity,
    in_lanes,
    lane_block,
    lane_slots,
    wide_dtype,
)
from .reduce_spread import spread_blocks, spread_columns, spread_row_blocks, spread_rows
from .scalar import ScalarEmitter, emit_cast
from .types import F64, I64, load_element, memory_type, register_type, store_element

BLOCK = 1024  # elements per block of a reduced run: in 64 lanes (reduce_block.LANES), a lane
# adds 16 in the input's precision before the block joins a float64 sum (512: no faster)


class Member(NamedTuple):
    """One reduction of a group that walks the same operands: its kind (tx.reduce's), the
    dtypes of its elements and of its result, where its result goes and its scratch
    (argmax/argmin's best values, or a float32 sum's float64 accumulator, see
    `wide_accumulator`)."""

    kind: str
    in_dtype: DType
    out_dtype: DType
    output: ll.Value
    scratch: ll.Value | None


# Every member's element, from the operands' loaded values (read once for all of them).
Compute = Callable[[ll.IRBuilder, list[ll.Value]], list[ll.Value]]


Totals = list[tuple[ll.Value, ll.Value | None]]  # each member's total and, if compensated, its error


class Walk:
    """The loop nest of `emit_reductions`: what its levels share, and one method per level."""

    def __init__(
        self,
        emitter: ScalarEmitter,
        members: list[Member],
        axes: tuple[int, ...],
        compute: Compute,
        operands: list[ArrayRef],
        space: IterationSpace,
    ) -> None:
        self.emitter, self.b = emitter, emitter.b
        self.members, self.operands, self.space = members, operands, space
        self.strides, self.shape = space.strides, list(space.extent)
        self.compute = compute
        b = self.b
        self.axis_order = axes
        self.axes, self.rank = set(axes), len(self.shape)
        self.arg = arg = members[0].kind in ("argmax", "argmin")
        assert not arg or len(members) == 1
        self.acc_dtypes = [
            m.in_dtype if m.kind in ("argmax", "argmin", "max", "min") else m.out_dtype for m in members
        ]
        # A float32 sum whose slots take many contributions adds them in a float64 scratch.
        self.widened = [not arg and m.scratch is not None for m in members]
        self.slot_dtypes = [DType.F64 if w else d for w, d in zip(self.widened, self.acc_dtypes, strict=True)]
        self.accumulators = [
            b.bitcast(m.scratch if arg or w else m.output, memory_type(d).as_pointer())
            for m, w, d in zip(members, self.widened, self.slot_dtypes, strict=True)
        ]
        self.indices = b.bitcast(members[0].output, I64.as_pointer()) if arg else None
        # Blocks in explicit lanes when any member's result depends on the order (reduce_block.py).
        self.lanes = any(in_lanes(m.kind, d) for m, d in zip(members, self.acc_dtypes, strict=True))
        self.columns: tuple[ll.Value, ll.Value] | None = None  # this thread's range of a kept last axis

    def initialise(self, out_extent: list[ll.Value]) -> ll.Value:
        """Every slot set to its identity; returns the number of output elements."""
        b = self.b
        count_out: ll.Value = I64(1)
        for dim in out_extent:
            count_out = b.mul(count_out, dim)
        with counted_loop(b, count_out, "init") as o:
            for m, d, acc in zip(self.members, self.slot_dtypes, self.accumulators, strict=True):
                store_element(b, d, identity(m.kind, d), b.gep(acc, [o]))
            if self.indices is not None:
                b.store(I64(0), b.gep(self.indices, [o]))
        return count_out

    def lay_out(self) -> None:
        """The output strides and the trailing reduced axes summed in registers."""
        b, shape, axes, rank = self.b, self.shape, self.axes, self.rank
        # The output element of each input index: contiguous strides over the kept axes.
        kept = [a for a in range(rank) if a not in axes]
        self.out_stride: dict[int, ll.Value] = {}
        running: ll.Value = I64(1)
        for a in reversed(kept):
            self.out_stride[a] = running
            running = b.mul(running, shape[a])
        self.single_axis = self.axis_order[0] if self.arg and len(axes) == 1 and rank > 1 else None

        # Reduced trailing axes (the innermost one at least) accumulate in registers: each run
        # of the innermost axis in blocks (partial sums in vector lanes), each block's partial
        # added to a wide total kept until the slot is written.
        tail = rank
        while tail > 0 and (tail - 1) in axes:
            tail -= 1
        self.tail = tail
        self.in_register = not self.arg and tail < rank
        self.revisited = any(a < tail for a in axes)  # a slot then takes several tails' totals
        tail_count: ll.Value = I64(1)
        for dim in shape[tail:]:
            tail_count = b.mul(tail_count, dim)
        self.empty_tail = b.icmp_signed("==", tail_count, I64(0))
        members, acc_dtypes = self.members, self.acc_dtypes
        self.wide_dtypes = [wide_dtype(m.kind, d) for m, d in zip(members, acc_dtypes, strict=True)]
        # Float64 block totals are no wider than their blocks: they are added with compensation.
        self.compensated = [
            m.kind in ("sum", "mean") and d is DType.F64 for m, d in zip(members, acc_dtypes, strict=True)
        ]

    def load(self, pointers: list[ll.Value]) -> list[ll.Value]:
        b = self.b
        values = [load_element(b, arr.dtype, p) for arr, p in zip(self.operands, pointers, strict=True)]
        return self.compute(b, values)

    def advance(self, pointers: list[ll.Value], axis: int, i: ll.Value) -> list[ll.Value]:
        return self.space.step(self.b, pointers, axis, i)

    def step(self, pointers: list[ll.Value], axis: int, i: ll.Value, contiguous: bool) -> list[ll.Value]:
        """The pointers moved to index i of `axis`. With unit strides the addresses are
        typed `p[i]`, which LLVM can vectorise; byte offsets times a run-time stride it cannot."""
        if not contiguous:
            return self.advance(pointers, axis, i)
        b = self.b
        return [
            p if s[axis] is None else b.gep(b.bitcast(p, memory_type(arr.dtype).as_pointer()), [i])
            for arr, p, s in zip(self.operands, pointers, self.strides, strict=True)
        ]

    def unit_strides(self, axis: int) -> ll.Value:
        b = self.b
        unit: ll.Value = ll.Constant(ll.IntType(1), 1)
        for arr, s in zip(self.operands, self.strides, strict=True):
            if s[axis] is not None:
                unit = b.and_(unit, b.icmp_signed("==", s[axis], I64(max(arr.dtype.itemsize, 1))))
        return unit

    def by_layout(self, axis: int, unit: Callable[[], None], strided: Callable[[], None]) -> None:
        """unit() where `axis` has unit strides in every operand, else strided(). Operands
        contiguous by construction need no check and no strided copy of the loops on their
        innermost axis (a size-1 axis reads index 0 whatever its stride)."""
        known = axis == self.rank - 1 and all(
            arr.contiguous for arr, s in zip(self.operands, self.strides, strict=True) if s[axis] is not None
        )
        if known:
            unit()
            return
        with self.b.if_else(self.unit_strides(axis), likely=True) as (then, otherwise):
            with then:
                unit()
            with otherwise:
                strided()

    def run_totals(self, pointers: list[ll.Value], totals: Totals) -> None:
        """Add the innermost run at `pointers` into `totals` (each a total and, where
        compensated, its running error), a block at a time."""
        b = self.b
        axis = self.rank - 1
        count = self.shape[axis]
        partials = self.partial_slots()

        def blocks(contiguous: bool) -> None:
            with counted_loop(b, b.udiv(b.add(count, I64(BLOCK - 1)), I64(BLOCK)), "block") as k:
                start = b.mul(k, I64(BLOCK))
                stop = b.add(start, I64(BLOCK))
                end = b.select(b.icmp_signed("<", stop, count), stop, count)
                self.block(pointers, totals, partials, start, end, contiguous)

        def unit() -> None:
            # A run of one block (a softmax's rows) skips the loop over blocks, whose
            # overhead would double the time of short rows.
            with b.if_else(b.icmp_signed("<=", count, I64(BLOCK)), likely=True) as (short, long):
                with short:
                    self.short_block(pointers, totals, partials, count)
                with long:
                    if len(self.axes) == self.rank:  # a whole array into one value (a norm)
                        spread_blocks(self, pointers, totals, count)
                    else:  # rows: each row's blocks on one thread
                        blocks(contiguous=True)

        self.by_layout(axis, unit, lambda: blocks(contiguous=False))

    def short_block(
        self, pointers: list[ll.Value], totals: Totals, partials: list[ll.Value], count: ll.Value
    ):
        """A run of one block; one of under SHORT_RUN elements (a softmax's rows of 10) in
        masked vector iterations (control.SHORT_RUNS), except in lanes, where lane_block sums
        a run that short in a loop of its own."""
        if self.lanes:
            self.block(pointers, totals, partials, I64(0), count, contiguous=True)
            return
        with self.b.if_else(self.b.icmp_signed("<", count, I64(SHORT_RUN))) as (short, long):
            with short:
                self.block(pointers, totals, partials, I64(0), count, contiguous=True, hints=SHORT_RUNS)
            with long:
                self.block(pointers, totals, partials, I64(0), count, contiguous=True)

    def block(
        self,
        pointers: list[ll.Value],
        totals: Totals,
        partials: list[ll.Value],
        start: ll.Value,
        stop: ll.Value,
        contiguous: bool,
        hints: dict[str, int] | None = None,
    ) -> None:
        """One block of the innermost run, combined in `partials` (explicit lanes where the
        order matters, reduce_block.py) then added to `totals`."""
        self.add_block(self.block_values(pointers, partials, start, stop, contiguous, hints), totals)

    def partial_slots(self) -> list[ll.Value]:
        """Where a block's elements are combined, in the entry block of the current function."""
        if self.lanes:
            return lane_slots(self.b, self.acc_dtypes)
        return [entry_alloca(self.b, register_type(d)) for d in self.acc_dtypes]

    def block_values(
        self,
        pointers: list[ll.Value],
        partials: list[ll.Value],
        start: ll.Value,
        stop: ll.Value,
        contiguous: bool,
        hints: dict[str, int] | None = None,
    ) -> list[ll.Value]:
        """Each member's combination of the elements [start, stop) of the innermost run, in
        its wide dtype (`wide_dtypes`)."""
        b, emitter, members, acc_dtypes = self.b, self.emitter, self.members, self.acc_dtypes
        axis = self.rank - 1

        def elements(i: ll.Value) -> list[ll.Value]:
            values = self.load(self.step(pointers, axis, i, contiguous))
            pairs = zip(members, acc_dtypes, values, strict=True)
            return [emit_cast(emitter, m.in_dtype, d, v) for m, d, v in pairs]

        if self.lanes:
            kinds = [m.kind for m in members]
            blocks = lane_block(emitter, kinds, acc_dtypes, partials, (start, stop), elements, hints)
        else:
            for m, d, partial in zip(members, acc_dtypes, partials, strict=True):
                b.store(identity(m.kind, d), partial)
            with counted_loop(b, stop, "run", start=start, hints=hints) as i:
                for m, d, partial, value in zip(members, acc_dtypes, partials, elements(i), strict=True):
                    b.store(combine(emitter, m.kind, d, b.load(partial), value, reassociate=True), partial)
            blocks = [b.load(partial) for partial in partials]
        pairs = zip(acc_dtypes, self.wide_dtypes, blocks, strict=True)
        return [emit_cast(emitter, d, w, block) for d, w, block in pairs]

    def add_block(self, values: list[ll.Value], totals: Totals) -> None:
        """A block's values (`block_values`) added to `totals`, in order."""
        b = self.b
        for m, w, value, (total, error) in zip(self.members, self.wide_dtypes, values, totals, strict=True):
            if error is not None:
                add_compensated(b, total, error, value)
            else:
                b.store(combine(self.emitter, m.kind, w, b.load(total), value), total)

    def visit_tail(self, axis: int, pointers: list[ll.Value], totals: Totals, spread: bool = True) -> None:
        if axis == self.rank - 1:
            self.run_totals(pointers, totals)
            return
        if spread and axis == self.rank - 2 and len(self.axes) == self.rank:
            spread_row_blocks(self, pointers, totals, lambda: self.visit_tail(axis, pointers, totals, False))
            return
        with counted_loop(self.b, self.shape[axis], f"reduce{axis}") as i:
            self.visit_tail(axis + 1, self.advance(pointers, axis, i), totals)

    def visit_all(self, pointers: list[ll.Value]) -> None:
        """Every element, into its slot; the columns over the threads when the innermost axis
        is kept and another reduced (reduce_spread.spread_columns)."""
        zero = I64(0)
        if self.arg or not self.axes or self.rank - 1 in self.axes:
            self.visit(0, pointers, zero, zero, zero)
            return

        def visit(columns: tuple[ll.Value, ll.Value]) -> None:
            self.columns = columns
            self.visit(0, pointers, zero, zero, zero)
            self.columns = None

        spread_columns(self, visit)

    def visit(
        self, axis: int, pointers: list[ll.Value], out_index: ll.Value, flat: ll.Value, position: ll.Value
    ) -> None:
        b = self.b
        if self.in_register and axis == self.tail:
            self.visit_register_tail(axis, pointers, out_index)
            return
        if axis == self.rank:
            self.visit_element(pointers, out_index, flat, position)
            return

        def entry(i: ll.Value, contiguous: bool) -> None:
            stride = self.out_stride.get(axis)
            index = b.add(out_index, b.mul(i, stride)) if stride is not None else out_index
            next_flat = b.add(b.mul(flat, self.shape[axis]), i)
            at = i if axis == self.single_axis else position
            self.visit(axis + 1, self.step(pointers, axis, i, contiguous), index, next_flat, at)

        def loop(contiguous: bool) -> None:
            if axis == 0 and self.in_register and self.tail == 1:  # rows reduced into a slot each
                spread_rows(self, lambda i: entry(i, contiguous))
                return
            start, stop = (None, self.shape[axis])
            if axis == self.rank - 1 and self.columns is not None:
                start, stop = self.columns
            with counted_loop(b, stop, f"reduce{axis}", start=start) as i:
                entry(i, contiguous)

        if self.arg or axis != self.rank - 1:
            loop(contiguous=False)
            return
        # The innermost axis kept (the sums of a matrix's columns): one slot per element.
        self.by_layout(axis, lambda: loop(contiguous=True), lambda: loop(contiguous=False))

    def visit_register_tail(self, axis: int, pointers: list[ll.Value], out_index: ll.Value) -> None:
        """The trailing reduced axes from `axis` on, summed in registers, then written to the slot."""
        b, emitter = self.b, self.emitter
        totals: Totals = []
        for m, w, c in zip(self.members, self.wide_dtypes, self.compensated, strict=True):
            total = entry_alloca(b, register_type(w))
            # -0.0 is the exact identity of a float sum, so LLVM drops the first add
            # (an empty tail, which would leave -0.0, gives the identity below).
            summed = m.kind in ("sum", "mean") and w.is_float
            b.store(ll.Constant(register_type(w), -0.0) if summed else identity(m.kind, w), total)
            error = entry_alloca(b, F64) if c else None
            if error is not None:
                b.store(F64(0.0), error)
            totals.append((total, error))
        self.visit_tail(axis, pointers, totals)
        slots = zip(self.members, self.slot_dtypes, self.wide_dtypes, self.accumulators, totals, strict=True)
        for m, d, w, acc, (total, error) in slots:
            slot = b.gep(acc, [out_index])
            combined = b.load(total)
            if error is not None:  # an inf or nan total makes the error nan: keep the total
                fabs = b.module.declare_intrinsic("llvm.fabs", [F64])
                finite = b.fcmp_ordered("<", b.call(fabs, [combined]), F64(math.inf))
                combined = b.select(finite, b.fadd(combined, b.load(error)), combined)
            if m.kind in ("sum", "mean") and w.is_float:
                combined = b.select(self.empty_tail, identity(m.kind, w), combined)
            if self.revisited:
                current = emit_cast(emitter, d, w, load_element(b, d, slot))
                combined = combine(emitter, m.kind, w, current, combined)
            store_element(b, d, emit_cast(emitter, w, d, combined), slot)

    def visit_element(
        self, pointers: list[ll.Value], out_index: ll.Value, flat: ll.Value, position: ll.Value
    ) -> None:
        """One element of the source, combined into its slot."""
        b, emitter, indices = self.b, self.emitter, self.indices
        values = self.load(pointers)
        for m, d, acc, value in zip(self.members, self.slot_dtypes, self.accumulators, values, strict=True):
            slot = b.gep(acc, [out_index])
            current = load_element(b, d, slot)
            if self.arg:
                assert indices is not None
                take = better(emitter, m.kind, m.in_dtype, value, current)
                store_element(b, d, b.select(take, value, current), slot)
                where = b.gep(indices, [out_index])
                best = position if self.single_axis is not None else flat
                b.store(b.select(take, best, b.load(where)), where)
                continue
            value = emit_cast(emitter, m.in_dtype, d, value)
            store_element(b, d, combine(emitter, m.kind, d, current, value), slot)

    def finish(self, count_out: ll.Value) -> None:
        """Means divided by their counts, widened sums rounded to their outputs."""
        b, emitter = self.b, self.emitter
        reduced: ll.Value = I64(1)
        for a in sorted(self.axes):
            reduced = b.mul(reduced, self.shape[a])
        for m, w, d, acc in zip(self.members, self.widened, self.slot_dtypes, self.accumulators, strict=True):
            if m.kind != "mean" and not w:
                continue
            out_dtype = m.out_dtype
            output = b.bitcast(m.output, memory_type(out_dtype).as_pointer())
            divisor = b.sitofp(reduced, register_type(d))
            with counted_loop(b, count_out, "finish") as o:
                value = load_element(b, d, b.gep(acc, [o]))
                if m.kind == "mean":
                    value = b.fdiv(value, divisor)
                store_element(b, out_dtype, emit_cast(emitter, d, out_dtype, value), b.gep(output, [o]))
