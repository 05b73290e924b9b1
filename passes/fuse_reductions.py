"""The second half of `fuse`: reduction kernels (`kernel.reduce`).

Assumes: elementwise fusion has run (elementwise work is in kernel.elementwise
ops), ops of the block in dominance order. Guarantees:

- a kernel.elementwise with one result of rank > 0 whose only use is one
  tx.reduce (so it is neither returned nor stored) is computed inside that
  reduction: the two become one kernel.reduce with the kernel's body and
  operands, and the kernel's result is never written to memory;
- sibling reductions, fused kernels with the same operand list reduced to the
  same result shape over the same axes with the same keepdims (argmax and
  argmin excepted), become one kernel.reduce with one result per member, in
  program order: their bodies are merged into one region over the shared
  block arguments, so the backends walk the operands once
  (sum(abs(W)) + sum(W * W)). It takes the place of the group's first
  reduction; its operands are defined before any member's kernel.

Cost: linear in the block.
"""

from __future__ import annotations

from ..ir import Block, Operation, Region, Value
from ..ir.ops.kernel import KernelElementwise, KernelReduce, Yield
from ..ir.ops.reduce import Reduce

# (the reduction, the kernel whose one result it reduces)
Fused = tuple[Reduce, KernelElementwise]


def fusible_source(op: Operation) -> KernelElementwise | None:
    """The kernel a tx.reduce computes its elements with, or None where it must read an array."""
    if type(op) is not Reduce:
        return None
    source = op.operands[0]
    kernel = source.owner
    if type(kernel) is not KernelElementwise or len(kernel.results) != 1:
        return None
    # Its only use is this reduction: so it is neither returned nor stored.
    if len(source.uses) != 1 or source.type.rank == 0:
        return None
    return kernel


def reduction_groups(block: Block) -> list[list[Fused]]:
    """The fusible reductions of `block`, grouped with their siblings, each group in block order."""
    groups: dict[object, list[Fused]] = {}
    for op in block.ops:
        kernel = fusible_source(op)
        if kernel is None:
            continue
        assert isinstance(op, Reduce)
        if op.kind in ("argmax", "argmin"):
            key: object = op  # alone
        else:
            key = (tuple(kernel.operands), op.results[0].type.shape, op.axes, op.keepdims)
        groups.setdefault(key, []).append((op, kernel))
    return list(groups.values())


def clone_op(op: Operation, mapping: dict[Value, Value]) -> Operation:
    """A copy of `op` (not inserted) on the values `mapping` gives for its operands; its
    results are added to `mapping`, under the old results' names."""
    clone = type(op)(
        [mapping[v] for v in op.operands],
        [r.type for r in op.results],
        dict(op.attributes),
        location=op.location,
    )
    for old, new in zip(op.results, clone.results, strict=True):
        new.name = old.name
        mapping[old] = new
    return clone


def build_reduction(group: list[Fused]) -> KernelReduce:
    """One kernel.reduce (not yet inserted) computing every member of `group`."""
    first_reduce, first_kernel = group[0]
    operands = list(first_kernel.operands)
    body = Block([a.type for a in first_kernel.body.block.args])
    for new, old in zip(body.args, first_kernel.body.block.args, strict=True):
        new.name = old.name
    yielded: list[Value] = []
    for _, kernel in group:
        block = kernel.body.block
        mapping: dict[Value, Value] = dict(zip(block.args, body.args, strict=True))
        for inner in block.ops:
            if type(inner) is Yield:
                yielded.append(mapping[inner.operands[0]])
                continue
            body.append(clone_op(inner, mapping))
    body.append(Yield(yielded, []))
    attributes = {
        "kinds": tuple(op.kind for op, _ in group),
        "axes": first_reduce.axes,
        "keepdims": first_reduce.keepdims,
    }
    location = first_reduce.location
    kernel = KernelReduce.create(operands, attributes, regions=[Region([body])], location=location)
    assert isinstance(kernel, KernelReduce)
    return kernel


def fuse_reductions(block: Block) -> None:
    """Replace each group of fusible reductions (and their kernels) with one kernel.reduce."""
    for group in reduction_groups(block):
        kernel = build_reduction(group)
        block.insert_before(group[0][0], kernel)
        for (reduce, _), result in zip(group, kernel.results, strict=True):
            old = reduce.results[0]
            result.name = old.name
            old.replace_all_uses_with(result)
        for reduce, source in group:
            reduce.erase()
            source.erase()
