"""Conditionals: `tx.ifelse`, Theano's lazy ifelse as one op whose two regions are the branches.

```
%r = tx.ifelse %c, %x, %y : (tensor<i1>, tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64> ({
^bb0(%a: tensor<?xf64>, %b: tensor<?xf64>):
  %t = tx.exp %a : tensor<?xf64>
  return %t : tensor<?xf64>
}, {
^bb0(%a_1: tensor<?xf64>, %b_1: tensor<?xf64>):
  return %b_1 : tensor<?xf64>
})
```

Operand 0 is the condition, a scalar of any dtype (nonzero is true, NaN too, as numpy's
`bool`); the other operands are the values the branches read. Both regions are function
bodies, isolated from above, taking one argument per such operand: the first (then) runs when
the condition holds, the second (else) otherwise, and only that one runs. They return as many
values, pairwise of the same dtype and rank; result k has that dtype and rank, and the sizes
both branches know statically and agree on.

Shapes: the plan cannot know before the call which branch will run, so both branches must give
each result the same shape (checked before the call, a TcShapeError otherwise: ir/ifelse_shapes.py)
and the results are allocated once; the shape checks of both branches are made before the call
too. Index checks made by native code (a gather's) are lazy: only the taken branch's run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .. import ifelse_shapes  # noqa: F401  (registers the requirement the shape rule uses)
from ..attributes import Attribute
from ..core import CALLABLE_BODY, FRESH, PURE, Operation, Region, at_least
from ..errors import TcTypeError, TcVerificationError
from ..types import TensorType

if TYPE_CHECKING:
    from ..shape_state import ShapeState

BRANCHES = ("then", "else")


class IfElse(Operation):
    """Run the then or the else region on the captured operands; see the module docstring."""

    name = "tx.ifelse"
    traits = frozenset({PURE, CALLABLE_BODY, FRESH})
    num_regions = 2
    arity = at_least(1)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        if not operand_types or operand_types[0].rank != 0:
            found = operand_types[0] if operand_types else "nothing"
            raise TcTypeError(f"{cls.name}: the condition must be a scalar, found {found}")
        if len(regions) != 2:
            raise TcVerificationError(f"{cls.name} needs two regions (then, else), found {len(regions)}")
        returned = []
        for label, region in zip(BRANCHES, regions, strict=True):
            term = region.block.terminator if region.blocks else None
            if term is None or term.name != "return":
                raise TcVerificationError(f"{cls.name}: the {label} branch must end in return")
            returned.append([v.type for v in term.operands])
        return join_types(cls.name, returned[0], returned[1])

    def verify_op(self) -> None:
        expected = [v.type for v in self.operands[1:]]
        for label, region in zip(BRANCHES, self.regions, strict=True):
            block = region.block
            found = [a.type for a in block.args]
            if found != expected:
                raise TcVerificationError(
                    f"{self.name}: the {label} branch takes ({', '.join(map(str, found))}) but the "
                    f"operands after the condition give ({', '.join(map(str, expected))})"
                )
            for inner in block.ops:
                if inner.name in ("tx.load", "tx.store", "tx.given"):
                    raise TcVerificationError(
                        f"{self.name}: {inner.name} cannot be in a branch (shared state is an operand)"
                    )

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        from ..interpreter import run_block

        taken = self.regions[0 if bool(np.asarray(operands[0])) else 1]
        outs = run_block(taken.block, operands[1:])
        return [
            np.asarray(out).astype(result.type.dtype.numpy, copy=False)
            for out, result in zip(outs, self.results, strict=True)
        ]

    def shape_rule(self, state: ShapeState) -> None:
        from ..ifelse_shapes import ifelse_shape_rule

        ifelse_shape_rule(self, state)


def join_types(name: str, then: Sequence[TensorType], other: Sequence[TensorType]) -> list[TensorType]:
    """The result types of an ifelse whose branches return `then` and `other`: the same dtypes
    and ranks, and the static sizes both know and agree on (the others are checked before the call)."""
    if len(then) != len(other):
        raise TcTypeError(
            f"{name}: the then branch returns {len(then)} value(s) but the else branch {len(other)}"
        )
    joined = []
    for k, (a, b) in enumerate(zip(then, other, strict=True)):
        if a.dtype is not b.dtype or a.rank != b.rank:
            raise TcTypeError(
                f"{name}: output #{k} is {a} in the then branch but {b} in the else branch; both "
                "branches must give the same dtype and rank (cast one of them)"
            )
        joined.append(
            TensorType(a.dtype, tuple(x if x == y else None for x, y in zip(a.shape, b.shape, strict=True)))
        )
    return joined
