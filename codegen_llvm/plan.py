"""The CPU backend's buffer plan: where each result lives before any code is emitted.

All of the lowering's planning decisions are made here, in one place, and the
lowering entries (lowerings.py, shape_ops.py) only follow them:

- which results are computed straight into the caller's result slots or the
  store slots of shared variables (`destination`), instead of a temporary
  that is copied at the end.

Which kernels are computed inside the reductions that consume them, and which
reductions share a walk over their operands, is no longer decided here: `fuse`
records it in the IR as `kernel.reduce` ops, which the lowering follows.

This module is what a later `plan-buffers` pass (an IR pass that records the
same decisions as attributes, for every backend) will replace.
"""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir as ll

from ..ir import Value
from ..ir.calling import CallingConvention
from .context import FRESH_RESULTS, Slot


@dataclass
class BufferPlan:
    """The decisions above, for one function."""

    destination: dict[Value, ll.Value]  # a value computed straight into this slot's pointer
    targets: list[tuple[Value, Slot]]  # every result and stored value, with its slot
    stored: set[Value]  # the values written to shared variables


def plan_buffers(convention: CallingConvention, outputs: list[Slot], store_slots: list[Slot]) -> BufferPlan:
    """The buffer plan of a function of calling convention `convention`."""
    # A result that is returned or stored is computed straight into its slot.
    destination: dict[Value, ll.Value] = {}
    targets = [(v, s) for v, s in zip(convention.results, outputs, strict=True)]
    targets += [(op.operands[0], s) for op, s in zip(convention.stores, store_slots, strict=True)]
    for value, slot in targets:
        if type(value.owner) in FRESH_RESULTS:
            destination.setdefault(value, slot[0])
    stored = {op.operands[0] for op in convention.stores}
    return BufferPlan(destination, targets, stored)
