"""`tx.head`: the first `count` rows of an array, where `count` is known only once it ran.

```
%hs, %n_run = tx.scan %n, %h0, %max {taps = [-1], tap_counts = [1], sequences = 0, until = true} ...
%values = tx.head %hs, %n_run : (tensor<?xf64>, tensor<i64>) -> tensor<?xf64>
return %values : tensor<?xf64>
```

A scan with `until` stops early (ir/ops/scan.py): its stacked results have n rows, of
which the first `count` hold the steps' values. Every other size in tc is planned before
the call (ir/shapes.py), so a length known only afterwards is allowed in one place: a
function's result. The caller allocates the upper bound (the operand's rows), the native
code copies `count` rows into it and writes `count` back where the caller passed the
result's first dimension, and the caller returns that many rows. Computing with the rows
inside the function is refused by the verifier (index a scan's result with `count - 1`
instead, as the frontend does for `values[-1]`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..attributes import Attribute
from ..core import PURE, Operation, Region
from ..dtypes import DType
from ..errors import TcTypeError, TcVerificationError
from ..types import TensorType

if TYPE_CHECKING:
    from ..core import Function
    from ..shape_state import ShapeState


class Head(Operation):
    """`x[:count]` for a `count` computed at run time; only a function's result."""

    name = "tx.head"
    traits = frozenset({PURE})
    arity = 2

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        source, count = operand_types
        if source.rank == 0:
            raise TcTypeError(f"{cls.name}: the source is a scalar ({source}); it needs rows")
        if count != TensorType(DType.I64, ()):
            raise TcTypeError(f"{cls.name}: the row count must be a tensor<i64>, found {count}")
        return [TensorType(source.dtype, (None, *source.shape[1:]))]

    def verify_op(self) -> None:
        for use in self.results[0].uses:
            user = use.op
            top_level = user.parent is not None and user.parent.parent is None
            if user.name != "return" or not top_level:
                raise TcVerificationError(
                    f"{self.name}: the rows of a scan with until (their number is known only after the "
                    f"loop) can only be a function's result or indexed with one integer (values[-1]), "
                    f"but '{user.name}' at {user.location} computes with them"
                )

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        source, count = operands
        return [np.asarray(source)[: int(count)]]

    def shape_rule(self, state: ShapeState) -> None:
        """The caller allocates the upper bound; the call reports the rows it wrote."""
        state.shapes[self.results[0]] = state.shapes[self.operands[0]]


def trimmed_results(function: Function) -> list[int]:
    """The positions of the function's results that are `tx.head`s (cut to length after a call)."""
    return [k for k, v in enumerate(function.return_op.operands) if isinstance(v.owner, Head)]
