"""`profile=True` in generated code: each op's run timed, with the bytes it touched and its flops.

A profiled entry point reads its module global `tc_profile.<function>` (symbols.profile_global),
which the runtime points at int64 words it owns (runtime/profile.py; the layout in ir/calling.py):

    [0]  records written so far (it counts on past the capacity: those were dropped)
    [1]  how many records fit
    [HEADER + RECORD * n ...]  record n: the op's index in the function body (the body's
         length for the copies into the results), its start and end (CLOCK_MONOTONIC
         nanoseconds, Python's `time.monotonic_ns`), the bytes of its operands and results,
         and its flops (the op's own `flops` rule, ir/core.py)

A null global (code loaded without a profile) records nothing. Only the entry point's own ops
are timed: a scan's step or an ifelse's branch runs inside its op's record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..ir import Operation, Value
from ..ir.calling import PROFILE_HEADER as HEADER
from ..ir.calling import PROFILE_RECORD as RECORD
from . import llvm_ir as ll
from .context import LoweringContext
from .nest import ArrayRef
from .parallel import module_global
from .symbols import profile_global
from .types import I32, I64, declare

CLOCK_MONOTONIC = 1  # Linux's id; Python's time.monotonic_ns reads the same clock
TIMESPEC = ll.LiteralStructType([I64, I64])


class RunTimeSize:
    """A size in generated code that multiplies and adds with ints and other sizes, so that an
    op's `flops` rule, written for Python ints, computes it at run time."""

    def __init__(self, builder: ll.IRBuilder, value: ll.Value) -> None:
        self.builder, self.value = builder, value

    def _combine(self, other: object, combine: Callable[..., ll.Value]) -> RunTimeSize:
        operand = other.value if isinstance(other, RunTimeSize) else I64(int(other))  # type: ignore[call-overload]
        return RunTimeSize(self.builder, combine(self.value, operand))

    def __mul__(self, other: object) -> RunTimeSize:
        return (
            self
            if other == 1 and not isinstance(other, RunTimeSize)
            else self._combine(other, self.builder.mul)
        )

    def __add__(self, other: object) -> RunTimeSize:
        return (
            self
            if other == 0 and not isinstance(other, RunTimeSize)
            else self._combine(other, self.builder.add)
        )

    __rmul__, __radd__ = __mul__, __add__


class OpTimer:
    """Times groups of deferred loops in one entry point and appends their records."""

    def __init__(self, ctx: LoweringContext) -> None:
        self.ctx = ctx
        b = ctx.builder
        glob = module_global(ctx.module, profile_global(ctx.function.name), I64.as_pointer(), None)
        self.clock = declare(ctx.module, "clock_gettime", I32, [I32, TIMESPEC.as_pointer()])
        with b.goto_entry_block():
            self.timespec = b.alloca(TIMESPEC, name="profile.now")
        self.words = b.load(glob, name="profile")
        self.on = b.icmp_unsigned("!=", self.words, ll.Constant(I64.as_pointer(), None))

    def now(self) -> ll.Value:
        """Nanoseconds on the monotonic clock (0 without a profile)."""
        b = self.ctx.builder
        b.store(ll.Constant(TIMESPEC, [I64(0), I64(0)]), self.timespec)
        with b.if_then(self.on):
            b.call(self.clock, [I32(CLOCK_MONOTONIC), self.timespec])
        seconds = b.load(b.gep(self.timespec, [I32(0), I32(0)]))
        nanoseconds = b.load(b.gep(self.timespec, [I32(0), I32(1)]))
        return b.add(b.mul(seconds, I64(1_000_000_000)), nanoseconds)

    def time(self, index: int, emit: Callable[[], None], nbytes: ll.Value, flops: ll.Value) -> None:
        """Emit `emit()`'s code between two clock reads, then its record."""
        start = self.now()
        emit()
        end = self.now()
        b = self.ctx.builder
        with b.if_then(self.on):
            count_at = self.words
            count = b.load(count_at)
            with b.if_then(b.icmp_signed("<", count, b.load(b.gep(self.words, [I64(1)])))):
                base = b.add(I64(HEADER), b.mul(count, I64(RECORD)))
                for offset, word in enumerate((I64(index), start, end, nbytes, flops)):
                    b.store(word, b.gep(self.words, [b.add(base, I64(offset))]))
            b.store(b.add(count, I64(1)), count_at)


Loops = list[Callable[[], None]]
LoopGroup = tuple[int, Operation, Loops]  # an op's index, the op, its loops


def run_timed_loops(
    ctx: LoweringContext, groups: Sequence[LoopGroup], emit: Callable[[Operation, Loops], None]
) -> OpTimer:
    """Emit each op's deferred loops (`emit(op, loops)`) inside a timed record; the timer,
    for the copies after."""
    timer = OpTimer(ctx)
    for index, op, loops in groups:
        values = [*op.operands, *op.results]
        flops = op.flops([_shape(ctx, v) for v in op.operands], [_shape(ctx, v) for v in op.results])
        timer.time(index, lambda op=op, loops=loops: emit(op, loops), bytes_of(ctx, values), _word(flops))
    return timer


def bytes_of(ctx: LoweringContext, values: Sequence[Value]) -> ll.Value:
    """The bytes of `values` in memory: a broadcast axis (stride 0) counts once."""
    b = ctx.builder
    total: ll.Value = I64(0)
    for value in values:
        array = ctx.arrays.get(value)
        if array is not None:
            total = b.add(total, _array_bytes(b, array))
    return total


def _array_bytes(b: ll.IRBuilder, array: ArrayRef) -> ll.Value:
    size: ll.Value = I64(max(array.dtype.itemsize, 1))
    for dim, stride in zip(array.shape, array.strides, strict=True):
        size = b.mul(size, b.select(b.icmp_signed("==", stride, I64(0)), I64(1), dim))
    return size


def _shape(ctx: LoweringContext, value: Value) -> list[Any]:
    array = ctx.arrays.get(value)
    return [] if array is None else [RunTimeSize(ctx.builder, dim) for dim in array.shape]


def _word(count: Any) -> ll.Value:
    if count is None:
        return I64(0)
    return count.value if isinstance(count, RunTimeSize) else I64(int(count))
