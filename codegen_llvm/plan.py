"""The CPU backend's buffer plan: where each result lives before any code is emitted.

All of the lowering's planning decisions are made here, in one place, and the
lowering entries (lowerings.py, shape_ops.py) only follow them:

- which results are computed straight into the caller's result slots or the
  store slots of shared variables (`destination`), instead of a temporary
  that is copied at the end;
- which elementwise kernels are fused into the reduction that consumes them,
  so their result is never written to memory (`fused`);
- which fused reductions over the same operands and axes share one walk over
  those operands (`groups`: sum(abs(W)) and sum(W * W)).

This module is what a later `plan-buffers` pass (an IR pass that records the
same decisions as attributes, for every backend) will replace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llvmlite import ir as ll

from ..ir import Function, Operation, Value
from ..ir.calling import CallingConvention
from ..ir.ops.kernel import KernelElementwise
from ..ir.ops.reduce import Reduce
from .context import FRESH_RESULTS, Slot


@dataclass
class BufferPlan:
    """The decisions above, for one function."""

    destination: dict[Value, ll.Value]  # a value computed straight into this slot's pointer
    targets: list[tuple[Value, Slot]]  # every result and stored value, with its slot
    stored: set[Value]  # the values written to shared variables
    fused: dict[Value, KernelElementwise]  # a kernel's one result, computed inside its reduction
    groups: dict[Operation, list[Reduce]]  # a group's first reduction: every member, in order
    grouped: set[Operation]  # every member of a group

    def lowered_elsewhere(self, op: Operation) -> bool:
        """Whether a reduction is computed by the leader of its group."""
        return op in self.grouped and op not in self.groups


def plan_buffers(
    convention: CallingConvention,
    function: Function,
    outputs: list[Slot],
    store_slots: list[Slot],
    compute_early: Callable[[KernelElementwise], bool],
) -> BufferPlan:
    """The buffer plan of `function`; `compute_early` tells the scalar kernels computed while
    buffers are laid out (sizes and indices: see shape_ops.py), which are never fused."""
    # A result that is returned or stored is computed straight into its slot.
    destination: dict[Value, ll.Value] = {}
    targets = [(v, s) for v, s in zip(convention.results, outputs, strict=True)]
    targets += [(op.operands[0], s) for op, s in zip(convention.stores, store_slots, strict=True)]
    for value, slot in targets:
        if type(value.owner) in FRESH_RESULTS:
            destination.setdefault(value, slot[0])
    stored = {op.operands[0] for op in convention.stores}
    fused = _fused_kernels(function, destination, compute_early)
    groups = _reduction_groups(function, fused)
    grouped = {op for group in groups.values() for op in group}
    return BufferPlan(destination, targets, stored, fused, groups, grouped)


def _fused_kernels(
    function: Function,
    destination: dict[Value, ll.Value],
    compute_early: Callable[[KernelElementwise], bool],
) -> dict[Value, KernelElementwise]:
    """Kernels whose one result only feeds a reduction are computed inside its loop."""
    fused: dict[Value, KernelElementwise] = {}
    for op in function.body.ops:
        source = op.operands[0] if type(op) is Reduce else None
        kernel = source.owner if source is not None else None
        if (
            type(kernel) is KernelElementwise
            and len(kernel.results) == 1
            and len(source.uses) == 1  # type: ignore[union-attr]
            and source.type.rank > 0  # type: ignore[union-attr]
            and source not in destination
            and not compute_early(kernel)
        ):
            fused[source] = kernel  # type: ignore[index]
    return fused


def _reduction_groups(
    function: Function, fused: dict[Value, KernelElementwise]
) -> dict[Operation, list[Reduce]]:
    """Fused reductions over the same operands and axes (sum(abs(W)) and sum(W * W)) share
    one walk over the operands: the first of each group computes them all."""
    groups: dict[Operation, list[Reduce]] = {}
    leaders: dict[tuple[object, ...], Reduce] = {}
    for op in function.body.ops:
        if type(op) is not Reduce or op.operands[0] not in fused or op.kind in ("argmax", "argmin"):
            continue
        kernel = fused[op.operands[0]]
        key = (tuple(kernel.operands), op.results[0].type.shape, op.axes, op.keepdims)
        leader = leaders.setdefault(key, op)
        groups.setdefault(leader, []).append(op)
    return groups
