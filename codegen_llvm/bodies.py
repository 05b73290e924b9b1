"""Regions that are function bodies (a scan's step, an ifelse's branches), lowered and called.

A body is lowered like any function (`lower_function`: its own buffer plan, kernels and
products) into an internal entry with the usual ABI, which LLVM may inline at its call. The
caller hands it pointers and sizes in a `data` / `dims` pair it owns. A body that fails (a
temporary not allocated, an index out of range) ends the enclosing function with the body's
status: out of memory as the function's own failure, a bad index renumbered among the
function's checks (the body's come where its op is: ir/ops/indexing.index_checks), with the
body's diagnostics copied over.
"""

from __future__ import annotations

from typing import NamedTuple

from ..ir import Function, Module, Operation
from ..ir.calling import calling_convention
from ..ir.core import Block
from ..ir.ops.indexing import index_checks
from . import llvm_ir as ll
from .context import LoweringContext, contiguous_strides
from .nest import ArrayRef
from .types import I8_PTR, I32, I64


class LoweredBody(NamedTuple):
    """A body's internal entry, its slots' ranks, and its first index check's number."""

    symbol: ll.Function
    ranks: tuple[int, ...]
    first_check: int
    function: Function  # the body seen as a function (its shape rules run on it)


def lower_body(ctx: LoweringContext, block: Block, label: str, op: Operation) -> LoweredBody:
    from .lower import lower_function

    # The entry is `tc_<name>`, so the name is made unique with that prefix.
    name = ctx.module.get_unique_name(f"tc_{ctx.function.name}.{label}").removeprefix("tc_")
    body = Function(name, block, op.location)
    entry = lower_function(calling_convention(Module([]), body), body, ctx.module, body=True)
    symbol = ctx.module.globals[entry.symbol]
    symbol.linkage = "internal"
    checks = index_checks(body)
    first_check = ctx.first_check[checks[0][0]] if checks else 0
    return LoweredBody(symbol, entry.slot_ranks, first_check, body)


class CallFrame:
    """The `data` and `dims` arrays a body is called with, filled slot by slot."""

    def __init__(self, b: ll.IRBuilder, ranks: tuple[int, ...], name: str) -> None:
        self.b = b
        self.data = b.alloca(I8_PTR, size=len(ranks), name=f"{name}.data")
        self.dims = b.alloca(I64, size=2 * sum(ranks) + 2, name=f"{name}.dims")
        self.offsets = [2 * sum(ranks[:slot]) for slot in range(len(ranks))]
        self.diagnostics = 2 * sum(ranks)

    def put(self, slot: int, pointer: ll.Value, shape: list[ll.Value], strides: list[ll.Value]) -> None:
        b = self.b
        b.store(b.bitcast(pointer, I8_PTR), b.gep(self.data, [I64(slot)]))
        for axis, value in enumerate([*shape, *strides]):
            b.store(value, b.gep(self.dims, [I64(self.offsets[slot] + axis)]))

    def put_array(self, slot: int, array: ArrayRef) -> None:
        self.put(slot, array.pointer, array.shape, array.strides)


def call_body(ctx: LoweringContext, body: LoweredBody, frame: CallFrame) -> None:
    """Call the body; on failure leave the function with its (renumbered) status."""
    status = ctx.builder.call(body.symbol, [frame.data, frame.dims])
    forward_failure(ctx, body, status, ctx.builder.gep(frame.dims, [I64(frame.diagnostics)]))


def forward_failure(ctx: LoweringContext, body: LoweredBody, status: ll.Value, diagnostics: ll.Value) -> None:
    """Where a call of the body returned a non-zero `status`, leave the function: out of
    memory as its own failure, a bad index as the function's check, with the body's two
    words of diagnostics (at `diagnostics`)."""
    b = ctx.builder
    failed = b.append_basic_block("body.failed")
    ok = b.append_basic_block("body.ok")
    b.cbranch(b.icmp_signed("!=", status, I32(0)), failed, ok)
    b.position_at_end(failed)
    index_error = b.append_basic_block("body.index_error")
    b.cbranch(b.icmp_signed("==", status, I32(1)), ctx.fail_block, index_error)
    b.position_at_end(index_error)
    failure = ctx.index_failure
    for word in range(2):
        value = b.load(b.gep(diagnostics, [I64(word)]))
        b.store(value, b.gep(failure.dims, [I64(failure.offset + word)]))
    failure.forward(b, b.add(status, I32(body.first_check)))
    b.position_at_end(ok)


def fresh_results(ctx: LoweringContext, op: Operation, extents: list[list[ll.Value]]) -> None:
    """Each result's contiguous buffer: its destination slot, or a temporary."""
    for result, extent in zip(op.results, extents, strict=True):
        pointer = ctx.destination.get(result)
        if pointer is None:
            pointer = ctx.allocate(result.type.dtype, extent)
        strides = contiguous_strides(ctx.builder, extent, result.type.dtype.itemsize)
        ctx.arrays[result] = ArrayRef(result.type.dtype, pointer, extent, strides, result.type.shape, True)
