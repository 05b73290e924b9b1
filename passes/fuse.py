"""fuse: elementwise fusion into `kernel.elementwise` ops.

Assumes: canonicalized IR (dead code gone). Guarantees: every elementwise
`tx` op of a function body ends up inside exactly one kernel, so the
backends only lower kernels; a producer joins its consumer's kernel when
both iterate over the same shape (so no element is computed twice) and the
merge keeps the graph acyclic; rank-0 constants are copied into each kernel
that uses them; a value is a kernel result only if something outside the
kernel uses it.
"""

from __future__ import annotations

import networkx as nx

from ..ir import ELEMENTWISE, Block, Function, Operation, Region, TensorType, Value
from ..ir.ops.builtin import Constant
from ..ir.ops.kernel import KernelElementwise, Yield
from .dataflow import dataflow_graph, reorder_topologically
from .manager import Pass, register


def is_fusible(op: Operation) -> bool:
    return op.has_trait(ELEMENTWISE) and not op.regions


def _is_scalar_constant(value: Value) -> bool:
    return isinstance(value.owner, Constant) and value.type.rank == 0


def fusion_groups(block: Block) -> list[list[Operation]]:
    """Partition the fusible ops of a block into groups, each in block order."""
    graph = dataflow_graph(block)
    group_of: dict[Operation, int] = {}
    members: dict[int, set[Operation]] = {}
    for op in block.ops:
        if is_fusible(op):
            group_of[op] = id(op)
            members[id(op)] = {op}
    for consumer in block.ops:
        if consumer not in group_of:
            continue
        for value in consumer.operands:
            producer = value.owner
            if producer not in group_of or group_of[producer] == group_of[consumer]:
                continue
            assert producer is not None
            if producer.results[0].type.shape != consumer.results[0].type.shape:
                continue  # a broadcast edge: fusing would recompute the producer per element
            source, target = group_of[producer], group_of[consumer]
            if _creates_cycle(graph, members[source], members[target]):
                continue
            for op in members[source]:
                group_of[op] = target
            members[target] |= members.pop(source)
    order = {op: i for i, op in enumerate(block.ops)}
    groups = [sorted(m, key=order.__getitem__) for m in members.values()]
    return sorted(groups, key=lambda g: order[g[0]])


def _creates_cycle(graph: nx.DiGraph, a: set[Operation], b: set[Operation]) -> bool:
    """Would merging a and b put a path that leaves the union and comes back?"""
    union = a | b
    outside: set[Operation] = set()
    for op in union:
        outside |= {n for n in graph.successors(op) if n not in union}
    frontier = list(outside)
    seen = set(frontier)
    while frontier:
        node = frontier.pop()
        for succ in graph.successors(node):
            if succ in union:
                return True
            if succ not in seen:
                seen.add(succ)
                frontier.append(succ)
    return False


def build_kernel(block: Block, group: list[Operation]) -> KernelElementwise:
    """Move `group` into a new kernel op (not yet inserted) and rewire the uses."""
    members = set(group)
    inputs: list[Value] = []
    for op in group:
        for value in op.operands:
            if value.owner not in members and value not in inputs and not _is_scalar_constant(value):
                inputs.append(value)
    body = Block([TensorType(v.type.dtype, ()) for v in inputs])
    mapping: dict[Value, Value] = dict(zip(inputs, body.args, strict=True))
    constants: dict[Value, Value] = {}
    yielded: list[Value] = []
    for op in group:
        operands = []
        for value in op.operands:
            if value not in mapping and _is_scalar_constant(value):
                if value not in constants:
                    copy = Constant.of(value.owner.value, location=value.owner.location)  # type: ignore[union-attr]
                    body.append(copy)
                    constants[value] = copy.result
                operands.append(constants[value])
            else:
                operands.append(mapping[value])
        clone = type(op)(
            operands,
            [TensorType(r.type.dtype, ()) for r in op.results],
            dict(op.attributes),
            location=op.location,
        )
        body.append(clone)
        for old, new in zip(op.results, clone.results, strict=True):
            new.name = old.name
            mapping[old] = new
            if any(use.op not in members for use in old.uses):
                yielded.append(old)
    body.append(Yield([mapping[v] for v in yielded], []))
    kernel = KernelElementwise.create(inputs, regions=[Region([body])], location=group[-1].location)
    assert isinstance(kernel, KernelElementwise)
    for old, new in zip(yielded, kernel.results, strict=True):
        new.name = old.name
        old.replace_all_uses_with(new)
    return kernel


@register
class FuseElementwise(Pass):
    name = "fuse"
    summary = "group elementwise ops into kernel.elementwise loops"

    def run_on_function(self, function: Function) -> None:
        block = function.body
        for group in fusion_groups(block):
            kernel = build_kernel(block, group)
            block.insert_before(group[-1], kernel)
            for op in reversed(group):
                op.erase()
        self._drop_unused_constants(block)
        reorder_topologically(block, dataflow_graph(block))

    @staticmethod
    def _drop_unused_constants(block: Block) -> None:
        for op in list(block.ops):
            if isinstance(op, Constant) and not op.result.uses:
                op.erase()
