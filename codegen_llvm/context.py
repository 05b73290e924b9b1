"""The CPU backend's lowering registry and the public context its entries work with.

Each op class has one entry, registered with `@lowering(Dot, BatchedDot)` (as
codegen_ptx's `device_step`): `LOWERINGS[type(op)](ctx, op)` lays out the op's
buffers at once and appends the loops that fill them to `ctx.loops` (run when
every buffer is laid out, so that nothing can fail once a shared buffer may
have been written in place). An entry uses only `LoweringContext`'s public
fields and methods, never the function lowering's internals. The entries live
in any module of the package (the package imports them all: `__init__.py`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..ir import DType, Function, Operation, Value
from . import llvm_ir as ll
from .jobs import KernelBody
from .loops import emit_elementwise_loop
from .nest import ArrayRef
from .scalar import MathLibrary
from .target import HostTarget, host_of
from .types import I1, I8_PTR, I64

if TYPE_CHECKING:
    from .indexing import IndexFailure
    from .plan import BufferPlan

Slot = tuple[ll.Value, list[ll.Value], list[ll.Value]]  # pointer, shape, byte strides
Lowering = Callable[["LoweringContext", Any], None]
LOWERINGS: dict[type[Operation], Lowering] = {}


def lowering(*classes: type[Operation]) -> Callable[[Lowering], Lowering]:
    """Register the CPU lowering of `classes` (keyed by op class, no isinstance chain). An op
    of the FRESH trait must write its results where `ctx.destination` says (plan-buffers)."""

    def register(entry: Lowering) -> Lowering:
        for cls in classes:
            LOWERINGS[cls] = entry
        return entry

    return register


class LoweringContext:
    """What a lowering entry may use while one function is lowered."""

    def __init__(
        self,
        builder: ll.IRBuilder,
        module: ll.Module,
        function: Function,
        fail_block: ll.Block,
        index_failure: IndexFailure,
        first_check: dict[Operation, int],
        global_slots: dict[str, Slot],
    ) -> None:
        from .shape_ops import ShapeOpLowering

        self.builder = builder
        self.module = module
        self.function = function
        self.fail_block = fail_block  # where a failed allocation returns 1
        self.index_failure = index_failure  # the exit of failed gather/scatter index checks
        self.first_check = first_check  # each indexing op's first check number
        self.global_slots = global_slots  # the slot of each global (shared variable), by symbol
        self.arrays: dict[Value, ArrayRef] = {}  # every value lowered so far
        self.loops: list[Callable[[], None]] = []  # deferred, run after the layout
        self.scratch: dict[Operation, ll.Value] = {}  # an op's extra buffer
        # Each temporary allocated, and the stack slot holding it from the entry on (null
        # until it is allocated), which a failure path frees through.
        self.temporaries: list[tuple[ll.Value, ll.Value]] = []
        self.plan: BufferPlan | None = None  # set once the function is planned (plan.py)
        # Where in `dims` each result slot's first dimension was read (by the slot's pointer).
        self.first_dims: dict[ll.Value, ll.Value] = {}
        self.shape_ops = ShapeOpLowering(self)  # sizes and views read while laying out
        self.entry_block = builder.block  # where the temporaries' slots are set to null
        self.target: HostTarget = host_of(module)  # allocation, the cores
        self.math: MathLibrary = self.target.math(module)

    @property
    def destination(self) -> dict[Value, ll.Value]:
        """The values computed straight into a result or store slot (see plan.py)."""
        assert self.plan is not None
        return self.plan.destination

    def defer(self, emit: Callable[..., None], *args: Any) -> None:
        """Run `emit(*args)` once every buffer is laid out."""
        self.loops.append(functools.partial(emit, *args))

    def report_rows(self, slot: Slot, rows: ll.Value) -> None:
        """Tell the caller that the result in `slot` has `rows` rows, fewer than it allocated
        (tx.head): written over the first dimension it passed in `dims`."""
        self.builder.store(rows, self.first_dims[slot[0]])

    def unique_name(self, base: str) -> str:
        """A fresh name for a generated function: `<function>.<base>`, numbered."""
        return self.module.get_unique_name(f"{self.function.name}.{base}")

    def result_buffers(self, op: Operation, extent: list[ll.Value]) -> None:
        """Each result's buffer: its destination slot, its shared temporary buffer, or a
        temporary of its own (allocated now)."""
        assert self.plan is not None
        b = self.builder
        static = op.results[0].type.shape
        for result in op.results:
            pointer = self.destination.get(result)
            if pointer is None and result in self.plan.pooled:
                pointer = self._pooled(result, extent)
            elif pointer is None:
                pointer = self.allocate(result.type.dtype, extent)
            strides = contiguous_strides(b, extent, result.type.dtype.itemsize)
            self.arrays[result] = ArrayRef(result.type.dtype, pointer, extent, strides, static, True)

    def _pooled(self, result: Value, extent: list[ll.Value]) -> ll.Value:
        """The shared temporary buffer planned for `result` (plan.pooled_buffers). Its size came
        from the shape plan's terms; a result laid out larger than that would be a compiler bug,
        and fails the call as an allocation does rather than write past the buffer."""
        assert self.plan is not None
        buffer, capacity = self.plan.pooled[result]
        b = self.builder
        size, overflow = byte_count(b, result.type.dtype, extent)
        too_large = b.or_(overflow, b.icmp_unsigned(">", size, capacity))
        fits = b.append_basic_block("pooled.fits")
        b.cbranch(too_large, self.fail_block, fits)
        b.position_at_end(fits)
        return buffer

    def allocate_scratch(self, op: Operation, dtype: DType, extent: list[ll.Value]) -> None:
        """A temporary beside `op`'s results, as `scratch[op]`."""
        self.scratch[op] = self.allocate(dtype, extent)

    def allocate(self, dtype: DType, extent: list[ll.Value]) -> ll.Value:
        """A temporary of `extent` elements of `dtype`, freed at the end; failure returns 1."""
        b = self.builder
        # A byte count past 2**63 would wrap to a small buffer the loops then overrun: fail as
        # an allocation failure instead.
        size, overflow = byte_count(b, dtype, extent)
        checked = b.append_basic_block("size_ok")
        b.cbranch(overflow, self.fail_block, checked)
        b.position_at_end(checked)
        pointer = self.target.allocate(b, size)
        ok = b.append_basic_block("allocated")
        b.cbranch(b.icmp_unsigned("==", pointer, ll.Constant(I8_PTR, None)), self.fail_block, ok)
        b.position_at_end(ok)
        self.temporaries.append((pointer, self._null_slot()))
        b.store(pointer, self.temporaries[-1][1])
        return pointer

    def copy(self, source: ArrayRef, slot: Slot) -> None:
        """Copy `source` into a contiguous slot."""
        pointer, shape, _ = slot
        name = self.unique_name("copy")
        emit_elementwise_loop(
            self.builder, name, shape, source.static_shape, [source], [(source.dtype, pointer)], IDENTITY
        )

    def _null_slot(self) -> ll.Value:
        """A stack slot set to null at the function's entry (before anything can fail)."""
        b = ll.IRBuilder(self.entry_block)
        b.position_at_start(self.entry_block)
        slot = b.alloca(I8_PTR, name="temporary")
        b.store(ll.Constant(I8_PTR, None), slot)
        return slot

    def release_temporaries(self, builder: ll.IRBuilder) -> None:
        """Free every temporary, at the normal return (all were allocated on the way)."""
        for pointer, _ in self.temporaries:
            self.target.release(builder, pointer)

    def release_allocated(self, builder: ll.IRBuilder) -> None:
        """Free the temporaries allocated before a failure, through their slots (free(NULL)
        does nothing), so that a failed call leaks nothing."""
        for _, slot in self.temporaries:
            self.target.release(builder, builder.load(slot))


IDENTITY = KernelBody(
    fast=lambda b, values: (values, None), exact=lambda b, values: values, has_fallback=False
)


def byte_count(
    builder: ll.IRBuilder,
    dtype: DType,
    extent: list[ll.Value],
    memo: dict[tuple[int, ...], Any] | None = None,
) -> tuple[ll.Value, ll.Value]:
    """(The bytes of `extent` elements of `dtype`, whether computing them overflowed i64.)
    Constant dims are multiplied here: a train step's entry point computed 4 * 1 with
    LLVM's overflow check dozens of times, in code left unoptimised (lower._bookkeeping).
    `memo`: the counts already emitted, for straight-line code that asks again."""
    known = max(dtype.itemsize, 1)  # the constant dims' product, folded here
    dynamic = []
    for dim in extent:
        constant = getattr(dim, "constant", None)  # only constants carry one
        if isinstance(constant, int):
            known *= constant
        else:
            dynamic.append(dim)
    if known >= 1 << 63:  # constant extents that alone overflow (unless a dim is 0: rare)
        return I64(0), I1(1)
    key = (known, *map(id, dynamic))
    if memo is not None and key in memo:
        return memo[key][1]  # type: ignore[no-any-return]
    if known != 1 or not dynamic:
        dynamic.append(I64(known))
    size, flags = dynamic[0], []
    for dim in dynamic[1:]:
        product = builder.smul_with_overflow(size, dim)
        size = builder.extract_value(product, 0)
        flags.append(builder.extract_value(product, 1))
    overflow = flags[0] if flags else I1(0)
    for flag in flags[1:]:
        overflow = builder.or_(overflow, flag)
    if memo is not None:
        memo[key] = (dynamic, (size, overflow))  # the dims kept alive: the key holds their ids
    return size, overflow


def contiguous_strides(builder: ll.IRBuilder, extent: list[ll.Value], itemsize: int) -> list[ll.Value]:
    """C-contiguous byte strides of `extent`."""
    strides: list[ll.Value] = []
    running: ll.Value = I64(itemsize)
    for dim in reversed(extent):
        strides.insert(0, running)
        running = builder.mul(running, dim)
    return strides
