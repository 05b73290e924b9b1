"""Reductions as loop nests: initialise the result, accumulate every element, finish.

Results never depend on the thread count: each output element is accumulated
by one thread in the same order whatever the thread count (reduce_spread.py
spreads a whole array's blocks, added in block order, the rows of row-wise
reductions and the columns of column-wise ones over the pool's threads). Float sums
are blocked, because adding n values one after another in float32 loses about
n * 2^-24 relative (the sum of 10^7 float32 0.1s was off by 1.5e-3):

- When the innermost axis is reduced, its run is cut into blocks of BLOCK
  elements. Each block is summed in the input's precision in 64 explicit
  lanes (reduce_block.py: each lane adds 16 elements, in an order the IR
  fixes, so optimised and unoptimised code give the same bits); block totals,
  and the runs of any further reduced trailing axes, are added in float64,
  and the result is rounded once.
- When a reduced axis lies outside a kept one (a matrix's column sums), each
  output element takes its contributions one at a time; a float32 sum then
  accumulates them in a float64 scratch (`wide_accumulator`) and rounds at
  the end.

The error is then a few ulps of the result, like numpy's pairwise sums, but
the last bits can differ from numpy's (and from constant folding, which runs
numpy), as they do between numpy and any BLAS. Products, max and min are not
blocked: max and min are exact, and a product's relative error grows with the
count whatever the order of the multiplications. The run-time checks (a non-empty selection for
max/min/argmax/argmin) have passed before the call.
"""

from __future__ import annotations

from ..ir import DType
from ..ir.ops.reduce import Reduce
from . import llvm_ir as ll
from .nest import ArrayRef, IterationSpace
from .reduce_walk import Compute, Member, Walk
from .scalar import ScalarEmitter
from .types import I8_PTR, I64


def emit_reduce(
    emitter: ScalarEmitter,
    op: Reduce,
    source: ArrayRef,
    output: ll.Value,
    out_extent: list[ll.Value],
    scratch: ll.Value | None,
) -> None:
    """Reduce the array `source` into the contiguous `output` (shape `out_extent`)."""
    member = Member(op.kind, source.dtype, op.results[0].type.dtype, output, scratch)
    space = IterationSpace(source.shape, [list(source.strides)])
    emit_reductions(emitter, [member], op.axes, _loaded, [source], space, out_extent)


def _loaded(builder: ll.IRBuilder, values: list[ll.Value]) -> list[ll.Value]:
    return values


def emit_reductions(
    emitter: ScalarEmitter,
    members: list[Member],
    axes: tuple[int, ...],
    compute: Compute,
    operands: list[ArrayRef],
    space: IterationSpace,
    out_extent: list[ll.Value],
) -> None:
    """Reductions over the same `axes` of the same operands, in one walk over them.

    `space` is the reduced space, which the operands walk by its strides; `compute`
    gives every member's element from the operands' values (read once for all of them:
    the identity for a plain array, a kernel.reduce body otherwise), and each member keeps
    its own accumulator.
    A group of several members holds no argmax/argmin.
    """
    axes, space = _flattened(emitter.b, members, axes, operands, space)
    walk = Walk(emitter, members, axes, compute, operands, space)
    count_out = walk.initialise(out_extent)
    walk.lay_out()
    b = emitter.b
    walk.visit_all([b.bitcast(arr.pointer, I8_PTR) for arr in operands])
    walk.finish(count_out)


def _flattened(
    b: ll.IRBuilder,
    members: list[Member],
    axes: tuple[int, ...],
    operands: list[ArrayRef],
    space: IterationSpace,
) -> tuple[tuple[int, ...], IterationSpace]:
    """A reduction of every axis of operands that are C-contiguous by construction (a weight
    matrix's L1 and L2 norms) as one of a single run of all their elements: the run's blocks
    are then spread over the cores (reduce_spread.py), where rows, each a block or less,
    would all be summed on one thread. Argmax/argmin keep their nest; a broadcast operand
    does not walk its elements in order."""
    rank = space.rank
    flat = (
        rank > 1
        and len(axes) == rank
        and all(m.kind not in ("argmax", "argmin") for m in members)
        and all(arr.contiguous and None not in s for arr, s in zip(operands, space.strides, strict=True))
    )
    if not flat:
        return axes, space
    count: ll.Value = I64(1)
    for dim in space.extent:
        count = b.mul(count, dim)
    return (0,), IterationSpace([count], [[I64(arr.dtype.itemsize)] for arr in operands])


def wide_accumulator(kind: str, out_dtype: DType, rank: int, axes: tuple[int, ...]) -> DType | None:
    """The dtype of a scratch accumulator a reduction needs beside its result, or None.

    A float32 sum or mean (over `axes` of a rank-`rank` source) whose output
    elements each take many contributions in turn (a reduced axis outside a kept
    one: the sums of a matrix's columns) adds them in float64; in float32 the
    contributions would lose digits as the sum grows, as in numpy's own column sums.
    """
    if kind not in ("sum", "mean") or out_dtype is not DType.F32:
        return None
    trailing = all(a in axes for a in range(min(axes, default=rank), rank))
    return None if trailing else DType.F64
