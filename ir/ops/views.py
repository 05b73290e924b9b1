"""Views: ops that only rearrange how an array's elements are addressed (no copy).

`%y = tx.dimshuffle %x {pattern = [1, -1, 0]} : tensor<3x?xf64> -> tensor<?x1x3xf64>`
is Theano's dimshuffle: entry i of the pattern names the input axis that
becomes output axis i, or is -1 for a new broadcastable axis of length 1.
Input axes left out must have length 1 (they are dropped). A transpose is
the pattern with every axis, reversed or permuted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..attributes import Attribute, attr, int_tuple
from ..core import PURE, Operation, Region
from ..errors import TcTypeError
from ..sizes import S
from ..types import TensorType

if TYPE_CHECKING:
    from ..builder import Builder
    from ..core import Value


def shuffled(shape: Sequence[S], pattern: Sequence[int]) -> tuple[S | int, ...]:
    """tx.dimshuffle's result shape (-1 inserts an axis of 1), in any evaluator's sizes
    (ir/sizes.py): the type rule's, the shape plan's and codegen's views."""
    return tuple(1 if p == -1 else shape[p] for p in pattern)


class DimShuffle(Operation):
    name = "tx.dimshuffle"
    traits = frozenset({PURE})
    arity = 1
    pattern = attr(tuple, convert=int_tuple)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        (source,) = operand_types
        pattern = attributes["pattern"]
        assert isinstance(pattern, tuple)
        axes = [p for p in pattern if p != -1]
        if any(not isinstance(p, int) or not -1 <= p < source.rank for p in pattern) or len(set(axes)) != len(
            axes
        ):
            raise TcTypeError(f"tx.dimshuffle: {list(pattern)} is not a pattern over {source}")
        for dropped in set(range(source.rank)) - set(axes):
            if source.shape[dropped] != 1:
                raise TcTypeError(
                    f"tx.dimshuffle: axis {dropped} of {source} can only be dropped if its length is 1"
                )
        return [source.with_shape(shuffled(source.shape, pattern))]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        (x,) = operands
        x = np.asarray(x)
        kept = [p for p in self.pattern if p != -1]
        dropped = tuple(a for a in range(x.ndim) if a not in kept)
        squeezed = np.squeeze(x, axis=dropped) if dropped else x
        # renumber the kept axes after dropping, transpose, then insert the new ones
        order = [sorted(kept).index(p) for p in kept]
        moved = np.transpose(squeezed, order)
        return [moved.reshape([1 if p == -1 else x.shape[p] for p in self.pattern])]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """The inverse shuffle: new axes (length 1) are dropped, dropped axes come back."""
        (g,) = output_grads
        if g is None or not g.type.dtype.is_float:
            return [None]
        pattern = self.pattern
        rank = self.operands[0].type.rank
        return [builder.dimshuffle(g, [pattern.index(a) if a in pattern else -1 for a in range(rank)])]
