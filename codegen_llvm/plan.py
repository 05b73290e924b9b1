"""The CPU backend's buffer plan: where each result lives, as the plan-buffers pass decided.

The pass records, in the IR, which results are computed straight into the caller's result
slots or the store slots of shared variables (`into = ["result 0", "store @W"]`); this
module turns those names into the slots' pointers (`destination`), and lists every result
and stored value with its slot (`targets`), so that what was not computed in place is
copied at the end. The temporaries it numbered (`buffer = [n]`) share one allocation per
number, made before anything is laid out (`pooled_buffers`). Which kernels are computed
inside the reductions that consume them, and which reductions share a walk, is in the IR too
(`kernel.reduce`, formed by `fuse`).
"""

from __future__ import annotations

from typing import Any

from ..ir import DType, Function, Value
from ..ir.calling import CallingConvention
from ..ir.shape_state import ShapeState, rule_for
from ..ir.shape_terms import Term
from . import llvm_ir as ll
from .context import LoweringContext, Slot, byte_count
from .nest import ArrayRef
from .terms import emit_term
from .types import I1, I8_PTR, I64, load_integer

Pooled = dict[Value, tuple[ll.Value, ll.Value]]  # a value: (its shared buffer, the buffer's bytes)


class BufferPlan:
    """The decisions above, for one function."""

    def __init__(
        self,
        destination: dict[Value, ll.Value],
        targets: list[tuple[Value, Slot]],
        stored: set[Value],
        pooled: Pooled,
    ) -> None:
        self.destination = destination  # a value computed straight into this slot's pointer
        self.targets = targets  # every result and stored value, with its slot
        self.stored = stored  # the values written to shared variables
        self.pooled = pooled  # the temporaries sharing buffers (pooled_buffers)


def plan_buffers(
    function: Function, convention: CallingConvention, outputs: list[Slot], store_slots: list[Slot]
) -> BufferPlan:
    """The buffer plan of `function`, from the `into` attributes of its ops."""
    slots = {f"result {k}": slot for k, slot in enumerate(outputs)}
    stores = zip(convention.stores, store_slots, strict=True)
    slots.update({f"store @{op.symbol}": slot for op, slot in stores})
    destination: dict[Value, ll.Value] = {}
    for op in function.body.ops:
        for result, place in zip(op.results, op.attributes.get("into", ()), strict=False):
            if place:
                destination[result] = slots[place][0]
    targets = [(v, s) for v, s in zip(convention.results, outputs, strict=True)]
    targets += [(op.operands[0], s) for op, s in zip(convention.stores, store_slots, strict=True)]
    stored = {op.operands[0] for op in convention.stores}
    return BufferPlan(destination, targets, stored, {})


def pooled_buffers(ctx: LoweringContext, convention: CallingConvention) -> Pooled:
    """Allocate, now (before anything is laid out), each temporary buffer plan-buffers
    numbered, as large as the largest value it holds: the values' sizes are their shape terms
    (the shape plan's, ir/shape_state.py) evaluated on the arguments."""
    function = ctx.function
    members: dict[int, list[Value]] = {}
    for op in function.body.ops:
        for result, number in zip(op.results, op.attributes.get("buffer", ()), strict=False):
            if number >= 0:
                members.setdefault(number, []).append(result)
    if not members:
        return {}
    state = ShapeState(function, [(g, convention.global_types[g]) for g in convention.globals])
    for op in function.body.ops:
        rule_for(op)(op, state)
    b = ctx.builder
    arrays = [ctx.arrays[arg] for arg in function.args]
    for name in convention.globals:
        pointer, shape, strides = ctx.global_slots[name]
        arrays.append(ArrayRef(convention.global_types[name].dtype, pointer, shape, strides, ()))

    def arg_value(arg: int, index: int | None) -> ll.Value:
        array = arrays[arg]
        address = array.pointer
        if index is not None:
            address = b.gep(b.bitcast(address, I8_PTR), [b.mul(I64(index), array.strides[0])])
        return load_integer(b, array.dtype, address)

    def arg_dim(arg: int, axis: int) -> ll.Value:
        return arrays[arg].shape[axis]

    pooled: Pooled = {}
    # Straight-line code (each block below reached only from the one before): a term's
    # value emitted once serves every later size.
    memo: dict[Term, ll.Value] = {}
    counts: dict[tuple[int, ...], Any] = {}  # byte_count's
    for number in sorted(members):
        # Each distinct size once (members often share a shape, whose terms `memo` made the
        # same values), then the largest.
        sizes = {}
        for value in members[number]:
            extent = [emit_term(b, term, arg_dim, arg_value, memo) for term in state.shapes[value]]
            counted = byte_count(b, value.type.dtype, extent, counts)
            sizes[tuple(map(id, counted))] = counted
        largest: ll.Value = I64(0)
        overflow: ll.Value = I1(0)
        for index, (size, wrapped) in enumerate(sizes.values()):
            largest = size if index == 0 else b.select(b.icmp_unsigned(">", size, largest), size, largest)
            overflow = wrapped if index == 0 else b.or_(overflow, wrapped)
        checked = b.append_basic_block(f"pool{number}.size_ok")
        b.cbranch(overflow, ctx.fail_block, checked)
        b.position_at_end(checked)
        buffer = ctx.allocate(DType.U8, [largest])
        pooled.update({value: (buffer, largest) for value in members[number]})
    return pooled
