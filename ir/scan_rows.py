"""Whether a scan's step treats the rows of its values as a batch of independent problems.

An RNN over a minibatch, h_t = tanh(x_t W + h_{t-1} U + b), computes row i of every step's
state from row i of x_t and of h_{t-1} only: the rows are independent problems that share
the weights. Such a scan can run as separate loops over ranges of rows, one range per core,
with no synchronisation between the steps (codegen_llvm/scan.py); the serial loop is just
the range of all rows.

The rule, value by value through the step: axis 0 of every sequence row and state tap is
*batched*; the non-sequences are *invariant* (read whole by every row). Then

- an elementwise op (a fused kernel) is batched when every batched operand has the result's
  rank (its axis 0 is the result's) and every invariant one broadcasts over axis 0: a lower
  rank, or a static size 1 there;
- a product x . W is batched when x is a batched matrix and W invariant;
- a pure op of invariant operands is invariant;
- anything else (a reduction, a reshape, a random draw, a product whose right side is
  batched) makes the scan's rows dependent.

Every value the step returns must be batched, and the scan may not stop early (`until`: the
condition is one for all rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .core import ELEMENTWISE, PURE, Operation, Value
from .ops.linalg import Dot

if TYPE_CHECKING:
    from .ops.scan import Scan


def independent_rows(op: Scan) -> bool:
    """Whether row i of every result depends only on row i of the sequences and states."""
    if op.until:
        return False
    block = op.body.block
    boundary = op.layout.first_nonsequence_arg
    batched: dict[Value, bool] = {}
    for index, arg in enumerate(block.args):
        if index < boundary and arg.type.rank == 0:
            return False  # a scalar state has no rows
        batched[arg] = index < boundary
    for inner in block.ops:
        if inner is block.terminator:
            break
        kind = _batched(inner, batched)
        if kind is None:
            return False
        batched.update((result, kind) for result in inner.results)
    returned = block.terminator.operands if block.terminator is not None else []
    return all(batched.get(value) for value in returned)


def _batched(op: Operation, batched: dict[Value, bool]) -> bool | None:
    """True: batched; False: invariant; None: neither (the rows depend on each other)."""
    if not op.has_trait(PURE):
        return None
    operands = [batched.get(value) for value in op.operands]
    if any(kind is None for kind in operands):
        return None  # read from outside the step's arguments: not analysed
    if not any(operands):
        return False
    if op.has_trait(ELEMENTWISE) and len(op.results) >= 1:
        rank = op.results[0].type.rank
        for value, kind in zip(op.operands, operands, strict=True):
            shape = value.type.shape
            if kind and len(shape) != rank:
                return None
            if not kind and len(shape) == rank and shape[0] != 1:
                return None
        return True
    if isinstance(op, Dot):
        left, right = operands
        return True if left and not right and op.operands[0].type.rank == 2 else None
    return None
