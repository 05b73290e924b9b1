"""fuse: elementwise fusion into `kernel.elementwise` ops, then reduction kernels.

Assumes: canonicalized IR (dead code gone), ops of a block in dominance
order. Guarantees: every elementwise `tx` op of a function body ends up
inside exactly one kernel, so the backends only lower kernels; a producer
joins its consumer's kernel when both iterate over the same shape (so no
element is computed twice), the merge keeps the graph acyclic and the kernel
stays within MAX_KERNEL_OPS ops; rank-0 constants are copied into each
kernel that uses them; a value is a kernel result only if something outside
the kernel uses it. Then (fuse_reductions.py) a kernel whose one result only feeds
a tx.reduce becomes part of it (`kernel.reduce`), and sibling reductions of the
same operands and axes share one kernel.reduce; and (fuse_conv.py) a convolution whose only
use is a kernel becomes part of it (`kernel.conv2d`: a bias and an activation).

The size bound keeps compile time linear in the graph: LLVM's loop
vectoriser takes time quadratic in the length of one loop body, so a
3,000-op chain becomes fifteen kernels, each passing one array to the next,
instead of one loop that LLVM takes minutes over. The price is one store
and load per element every MAX_KERNEL_OPS ops.

Cost: near-linear in the block. The cycle check searches only between a
merge's outside users and the group's last op (no path can come back from
further down the block), crossing each other group once, and groups merge
the smaller into the larger.
"""

from __future__ import annotations

from ..ir import ELEMENTWISE, Block, Function, Operation, Region, TensorType, Value
from ..ir.ops.builtin import Constant
from ..ir.ops.conv import Conv2D
from ..ir.ops.kernel import KernelElementwise, Yield
from .dataflow import order_by_dataflow
from .fuse_reductions import fuse_reductions
from .manager import Pass, register

# Most ops in one kernel body (constants copied in not counted); see the module docstring.
MAX_KERNEL_OPS = 200


def is_fusible(op: Operation) -> bool:
    return op.has_trait(ELEMENTWISE) and not op.regions and not is_retype(op)


def is_retype(op: Operation) -> bool:
    """A cast that only learns or forgets static sizes: a kernel's result would get the
    operand's type instead (its type is the point of it), so backends keep it as a view."""
    if len(op.operands) != 1 or len(op.results) != 1:
        return False
    source, result = op.operands[0].type, op.results[0].type
    return source.dtype is result.dtype and source.shape != result.shape


def _is_scalar_constant(value: Value) -> bool:
    return isinstance(value.owner, Constant) and value.type.rank == 0


class _Group:
    """Ops fused so far, the ops outside it that use them, and its last block position."""

    __slots__ = ("members", "outside_users", "last")

    def __init__(self, op: Operation, users: set[Operation], position: int) -> None:
        self.members = {op}
        self.outside_users = users - self.members
        self.last = position

    def absorb(self, other: _Group) -> None:
        """Merge `other` (the smaller group) into this one."""
        self.members |= other.members
        self.outside_users -= other.members
        self.outside_users |= other.outside_users - self.members
        self.last = max(self.last, other.last)


def fusion_groups(block: Block, max_ops: int = MAX_KERNEL_OPS) -> list[list[Operation]]:
    """Partition the fusible ops of a block into groups, each in block order."""
    position = {op: i for i, op in enumerate(block.ops)}
    users = {op: _users_in_block(op, block) for op in block.ops}
    group_of: dict[Operation, _Group] = {
        op: _Group(op, users[op], position[op]) for op in block.ops if is_fusible(op)
    }
    for consumer in block.ops:
        if consumer not in group_of:
            continue
        for value in consumer.operands:
            producer = value.owner
            if producer not in group_of or group_of[producer] is group_of[consumer]:
                continue
            assert producer is not None
            if producer.results[0].type.shape != consumer.results[0].type.shape:
                continue  # a broadcast edge: fusing would recompute the producer per element
            source, target = group_of[producer], group_of[consumer]
            if len(source.members) + len(target.members) > max_ops:
                continue
            if _creates_cycle(source, target, users, position, group_of):
                continue
            small, large = sorted((source, target), key=lambda g: len(g.members) + len(g.outside_users))
            large.absorb(small)
            for op in small.members:
                group_of[op] = large
    unique = {id(g): g for g in group_of.values()}
    groups = [sorted(g.members, key=position.__getitem__) for g in unique.values()]
    return sorted(groups, key=lambda g: position[g[0]])


def _users_in_block(op: Operation, block: Block) -> set[Operation]:
    return {use.op for result in op.results for use in result.uses if use.op.parent is block}


def _creates_cycle(
    a: _Group,
    b: _Group,
    users: dict[Operation, set[Operation]],
    position: dict[Operation, int],
    group_of: dict[Operation, _Group],
) -> bool:
    """Would merging a and b put a path that leaves the union and comes back?

    A path runs through ops and through other groups, each of which becomes
    one kernel: entering a group at any member leaves it at all of its
    users (a kernel runs whole), so two ops unrelated as ops can still close
    a cycle of kernels. Block order is topological, so such a path runs
    through ops before the union's last one; the search never looks past it.
    """
    last = max(a.last, b.last)

    def inside(op: Operation) -> bool:
        return op in a.members or op in b.members

    frontier = [op for op in a.outside_users | b.outside_users if position[op] < last]
    seen = set(frontier)
    crossed: set[int] = {id(a), id(b)}
    while frontier:
        node = frontier.pop()
        group = group_of.get(node)
        if group is None:
            successors = users[node]
        elif id(group) in crossed:
            continue
        else:
            crossed.add(id(group))
            successors = group.outside_users
        for user in successors:
            if inside(user):
                return True
            if user not in seen and position[user] < last:
                seen.add(user)
                frontier.append(user)
    return False


def build_kernel(block: Block, group: list[Operation]) -> KernelElementwise:
    """Move `group` into a new kernel op (not yet inserted) and rewire the uses."""
    members = set(group)
    inputs: dict[Value, None] = {}  # an ordered set
    for op in group:
        for value in op.operands:
            if value.owner not in members and value not in inputs and not _is_scalar_constant(value):
                inputs[value] = None
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
    kernel = KernelElementwise.create(list(inputs), regions=[Region([body])], location=group[-1].location)
    assert isinstance(kernel, KernelElementwise)
    for old, new in zip(yielded, kernel.results, strict=True):
        new.name = old.name
        old.replace_all_uses_with(new)
    return kernel


@register
class FuseElementwise(Pass):
    name = "fuse"
    summary = "group elementwise ops into kernel.elementwise loops, and those into reductions"

    def run_on_function(self, function: Function) -> None:
        block = function.body
        for group in fusion_groups(block):
            kernel = build_kernel(block, group)
            block.insert_before(group[-1], kernel)
            for op in reversed(group):
                op.erase()
        self._drop_unused_constants(block)
        order_by_dataflow(block, self.name)
        fuse_reductions(block)
        if any(type(op) is Conv2D for op in block.ops):
            from .fuse_conv import fuse_convolutions  # (imported where there is one to fuse)

            fuse_convolutions(block)

    @staticmethod
    def _drop_unused_constants(block: Block) -> None:
        for op in list(block.ops):
            if isinstance(op, Constant) and not op.result.uses:
                op.erase()
