"""Lower one IR function to one native entry point with a plain C ABI.

    int32_t tc_<name>(void **data, int64_t *dims)

`data` holds one pointer per array slot: the function's arguments in
order, then its results. `dims` holds, slot after slot, the slot's shape
then its byte strides (rank values each; nothing for a scalar). Result
slots are C-contiguous buffers the caller allocated with the shapes of
`ir.shapes`. The caller has checked every shape before the call, so the
code never reads out of bounds. A result of unplanned length (tx.head) has
the upper bound allocated; the code writes the rows it filled over the
result's first dimension in `dims`. Returns 0, or 1 when a temporary buffer
could not be allocated, or 2 + n when index check n failed (a gather or
scatter-add index outside its axis: `ir.ops.indexing.index_checks`); then
the bad index and the axis size are written to `dims` just past the last
stride, so `dims` has two entries more than the shapes and strides.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..ir import Function, Operation, TcCompilationError
from ..ir.calling import CallingConvention
from ..ir.core import CALLABLE_BODY
from ..ir.ops.indexing import index_checks
from . import llvm_ir as ll
from .context import LOWERINGS, Lowering, LoweringContext, Slot
from .indexing import IndexFailure
from .nest import ArrayRef
from .outline import can_fail, outlined
from .plan import plan_buffers, pooled_buffers
from .symbols import EntryPoint, entry_symbol
from .types import I8_PTR, I32, I64, mark_not_captured

if TYPE_CHECKING:
    from .profile import OpTimer

# Host functions of at least this many ops are left to LLVM unoptimised (see `_bookkeeping`).
UNOPTIMISED_HOST_OPS = 16


def lower_function(
    convention: CallingConvention,
    function: Function,
    module: ll.Module,
    profile: bool = False,
    body: bool = False,
) -> EntryPoint:
    """Plan the function's buffers (plan.py), lower each op through its registered entry
    (`LOWERINGS`), run the deferred loops, then copy what the plan did not place and free.
    `profile`: time each op's loops and record them (profile.py). `body`: a region's body
    (bodies.py), which its op may call once per step."""
    _register_common_lowerings()
    ranks = convention.slot_ranks
    symbol = entry_symbol(function.name)
    fn = ll.Function(module, ll.FunctionType(I32, [I8_PTR.as_pointer(), I64.as_pointer()]), symbol)
    data, dims = fn.args
    data.name, dims.name = "data", "dims"
    for arg in (data, dims):
        mark_not_captured(arg)
    builder = ll.IRBuilder(fn.append_basic_block("entry"))
    fail_block = fn.append_basic_block("out_of_memory")
    # A bad index returns 2 + its check's number, its value and axis size past the strides.
    index_failure = IndexFailure(fn, dims, 2 * sum(ranks))
    first_check = {op: n for n, (op, axis) in reversed(list(enumerate(index_checks(function))))}
    slots = [_slot(builder, data, dims, index, ranks) for index in range(len(ranks))]
    global_slots = dict(zip(convention.globals, slots[convention.first_global_slot :], strict=False))
    ctx = LoweringContext(
        builder,
        module,
        function,
        fail_block,
        index_failure,
        first_check,
        global_slots,
    )
    for arg, slot in zip(function.args, slots, strict=False):
        ctx.arrays[arg] = ArrayRef(arg.type.dtype, *slot, arg.type.shape)
    outputs = slots[len(function.args) : convention.first_global_slot]
    for index in range(len(function.args), convention.first_global_slot):
        if ranks[index]:  # where a result's first dimension is in `dims` (ctx.report_rows)
            ctx.first_dims[slots[index][0]] = builder.gep(dims, [I64(2 * sum(ranks[:index]))])
    store_slots = slots[convention.first_store_slot :]
    ctx.plan = plan_buffers(function, convention, outputs, store_slots)
    ctx.plan.pooled = pooled_buffers(ctx, convention)

    # First every buffer and size, so that nothing can fail once a shared
    # buffer may have been written in place; then the loops.
    groups = []
    for index, op in enumerate(function.body.ops):
        entry = _lowering_of(op)
        if entry is None:
            raise TcCompilationError(
                f"the CPU backend lowers fused kernels only; '{op.name}' at {op.location} "
                "was not fused (run the 'fuse' pass)"
            )
        laid_out = len(ctx.loops)
        entry(ctx, op)
        if len(ctx.loops) > laid_out:
            groups.append((index, op, ctx.loops[laid_out:]))
    bookkeeping = not body and _bookkeeping(function)
    run = functools.partial(_emit_loops, ctx, bookkeeping)
    timer = None
    if profile:  # each op's loops timed (profile.py)
        from .profile import run_timed_loops

        timer = run_timed_loops(ctx, groups, run)
    else:
        for _, op, loops in groups:
            run(op, loops)
    _finish(ctx, timer, len(function.body.ops))
    if bookkeeping:
        fn.attributes.add("noinline")
        fn.attributes.add("optnone")
    return EntryPoint(symbol, ranks)


@functools.cache
def register_lowerings() -> None:
    """Import every module of the package, registering its `@lowering` entries: done before
    the first lowering, not on import, so that loading cached code imports none of them."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__package__}.{module.name}")


# The modules whose lowerings nearly every function needs, imported before its first
# lowering; every other module (the convolutions, pooling, scan, ifelse, ...: 2.3 ms of
# imports that a train step's cold compile never used) once an op is met that none of these
# lowers. Which module lowers an op is found by importing, never listed: a new op's lowering
# is still one new file, and leaving a module out of this list only costs time.
COMMON_LOWERINGS = ("lowerings", "shape_ops", "kernel_reduce")


@functools.cache
def _register_common_lowerings() -> None:
    for name in COMMON_LOWERINGS:
        importlib.import_module(f"{__package__}.{name}")


def _lowering_of(op: Operation) -> Lowering | None:
    entry = LOWERINGS.get(type(op))
    if entry is None:
        register_lowerings()
        entry = LOWERINGS.get(type(op))
    return entry


def _bookkeeping(function: Function) -> bool:
    """Whether the entry point is bookkeeping LLVM should not optimise: it runs once per
    call, straight through (shapes, checks, allocation, then a call per op, whose loops are
    functions of their own: outline.py), and in a train step of 40 ops LLVM spent 0.4 s
    optimising it and 0.3 s more selecting its instructions (optnone: FastISel) to save
    nanoseconds per call. Small functions, the ones called in tight loops, are cheap to
    optimise and stay optimised, their loops inline; so does an entry point holding a loop
    (a scan's), which runs its body's code many times."""
    ops = function.body.ops
    return len(ops) >= UNOPTIMISED_HOST_OPS and not any(CALLABLE_BODY in op.traits for op in ops)


def _emit_loops(ctx: LoweringContext, outline: bool, op: Operation, loops: list[Callable[[], None]]) -> None:
    """Emit an op's deferred code: where the entry point is left unoptimised, into a function
    of its own (outline.py), whose failed index check the entry point's exit reports."""

    def emit_all() -> None:
        for loop in loops:
            loop()

    b = ctx.builder
    if not outline:
        emit_all()
        return
    call = outlined(b, f"{ctx.function.name}.{op.name}", emit_all)
    if can_fail(call):
        with b.if_then(b.icmp_signed("!=", call, I32(0)), likely=False):
            ctx.index_failure.forward(b, call)


def _finish(ctx: LoweringContext, timer: OpTimer | None, copies_index: int) -> None:
    """Copy each result or stored value not computed in its slot (timed as the record
    `copies_index` when profiled); free the temporaries; return."""
    assert ctx.plan is not None
    copies = [(value, slot) for value, slot in ctx.plan.targets if ctx.destination.get(value) is not slot[0]]

    def copy_all() -> None:
        for value, slot in copies:
            ctx.copy(ctx.arrays[value], slot)

    b = ctx.builder
    if timer is not None and copies:
        from .profile import bytes_of

        read = bytes_of(ctx, [value for value, _ in copies])
        timer.time(copies_index, copy_all, b.shl(read, I64(1)), I64(0))  # read, then written
    else:
        copy_all()
    ctx.release_temporaries(b)
    b.ret(I32(0))
    ctx.index_failure.finish(ctx.release_allocated)
    with b.goto_block(ctx.fail_block):
        ctx.release_allocated(b)
        b.ret(I32(1))


def _slot(b: ll.IRBuilder, data: ll.Value, dims: ll.Value, index: int, ranks: tuple[int, ...]) -> Slot:
    pointer = b.load(b.gep(data, [I64(index)]), name=f"slot{index}")
    offset = 2 * sum(ranks[:index])
    rank = ranks[index]
    shape = [b.load(b.gep(dims, [I64(offset + a)]), name=f"slot{index}.dim{a}") for a in range(rank)]
    strides = [
        b.load(b.gep(dims, [I64(offset + rank + a)]), name=f"slot{index}.stride{a}") for a in range(rank)
    ]
    return pointer, shape, strides
