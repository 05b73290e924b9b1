"""The CPU backend's buffer plan: where each result lives, as the plan-buffers pass decided.

The pass records, in the IR, which results are computed straight into the caller's result
slots or the store slots of shared variables (`into = ["result 0", "store @W"]`); this
module turns those names into the slots' pointers (`destination`), and lists every result
and stored value with its slot (`targets`), so that what was not computed in place is
copied at the end. Which kernels are computed inside the reductions that consume them, and
which reductions share a walk, is in the IR too (`kernel.reduce`, formed by `fuse`).
"""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir as ll

from ..ir import Function, Value
from ..ir.calling import CallingConvention
from .context import Slot


@dataclass
class BufferPlan:
    """The decisions above, for one function."""

    destination: dict[Value, ll.Value]  # a value computed straight into this slot's pointer
    targets: list[tuple[Value, Slot]]  # every result and stored value, with its slot
    stored: set[Value]  # the values written to shared variables


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
    return BufferPlan(destination, targets, stored)
