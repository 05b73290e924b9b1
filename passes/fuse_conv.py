"""The last part of `fuse`: a convolution into the elementwise kernel that consumes it
(`kernel.conv2d`, ir/ops/kernel_conv.py).

Assumes: elementwise fusion has run, ops of the block in dominance order. Guarantees: a
tx.conv2d whose only use is one operand of a kernel.elementwise with one result, whose
other operands do not widen the convolution's shape (each axis of each is a static 1, or
one the convolution does not have as a static 1: a bias per channel, a tensor of the same
shape, a scalar), becomes one kernel.conv2d in the kernel's place, with the
convolution's operands and attributes, then the kernel's other operands, and the kernel's
body with the convolution's element as its first argument. The convolution's result is
then never written to memory on its own.

Cost: linear in the block.
"""

from __future__ import annotations

from ..ir import Block, Region, Value
from ..ir.ops.conv import Conv2D
from ..ir.ops.kernel import KernelElementwise
from ..ir.ops.kernel_conv import KernelConv2D
from .fuse_reductions import clone_op


def fusible_convolution(kernel: KernelElementwise) -> Value | None:
    """The convolution result `kernel` may take in, or None."""
    if len(kernel.results) != 1:
        return None
    for value in kernel.operands:
        if type(value.owner) is not Conv2D or len(value.uses) != 1:
            continue
        shape = value.type.shape
        others = [v for v in kernel.operands if v is not value]
        if all(_inside(v.type.shape, shape) for v in others):
            return value
    return None


def _inside(shape: tuple[int | None, ...], target: tuple[int | None, ...]) -> bool:
    """Whether `shape` broadcasts into `target` without widening it: each axis a static 1
    (stretched), or an axis the target does not have as a static 1. Sizes not known yet
    must then be equal, as in any kernel (a size stretches only where it is a static 1),
    which the shape plan checks before the call."""
    if len(shape) > len(target):
        return False
    return all(d == 1 or t != 1 for d, t in zip(shape[::-1], target[::-1], strict=False))


def build_fused(kernel: KernelElementwise, conv_value: Value) -> KernelConv2D:
    """kernel.conv2d (not yet inserted) computing `kernel` with the convolution inside."""
    conv = conv_value.owner
    assert isinstance(conv, Conv2D)
    old_args = kernel.body.block.args
    position = list(kernel.operands).index(conv_value)
    order = [position] + [k for k in range(len(old_args)) if k != position]
    body = Block([old_args[k].type for k in order])
    mapping: dict[Value, Value] = {}
    for k, new in zip(order, body.args, strict=True):
        new.name = old_args[k].name
        mapping[old_args[k]] = new
    for inner in kernel.body.block.ops:
        body.append(clone_op(inner, mapping))
    operands = [*conv.operands, *(kernel.operands[k] for k in order[1:])]
    fused = KernelConv2D.create(
        operands, dict(conv.attributes), regions=[Region([body])], location=kernel.location
    )
    assert isinstance(fused, KernelConv2D)
    return fused


def fuse_convolutions(block: Block) -> None:
    """Replace each fusible convolution and its kernel with one kernel.conv2d."""
    for kernel in [op for op in block.ops if type(op) is KernelElementwise]:
        assert isinstance(kernel, KernelElementwise)
        conv_value = fusible_convolution(kernel)
        if conv_value is None:
            continue
        fused = build_fused(kernel, conv_value)
        block.insert_before(kernel, fused)
        old = kernel.results[0]
        fused.results[0].name = old.name
        old.replace_all_uses_with(fused.results[0])
        kernel.erase()
        conv_value.owner.erase()
