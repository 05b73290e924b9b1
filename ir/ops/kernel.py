"""Fused kernels: the output of elementwise fusion and the input of the backends.

```
%k = kernel.elementwise %x, %y : tensor<?xf64> ({
^bb0(%a: tensor<f64>, %b: tensor<f64>):
  %s = tx.sin %a : tensor<f64>
  %m = tx.mul %s, %b : tensor<f64>
  kernel.yield %m : tensor<f64>
})
```

The region is the scalar body: its arguments are rank-0 stand-ins for one
element of each operand (after broadcasting), and `kernel.yield` gives one
element of each result. The results span the broadcast shape of the operands.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..attributes import Attribute
from ..core import ELEMENTWISE, PURE, TERMINATOR, NoResults, Operation, Region
from ..errors import TcVerificationError
from ..types import TensorType, broadcast_shapes


class KernelElementwise(Operation):
    name = "kernel.elementwise"
    traits = frozenset({PURE, ELEMENTWISE})
    num_regions = 1

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        shape = broadcast_shapes(*(t.shape for t in operand_types))
        term = regions[0].block.terminator
        if term is None:
            raise TcVerificationError("kernel.elementwise body does not end in kernel.yield")
        return [TensorType(v.type.dtype, shape) for v in term.operands]

    @property
    def body(self) -> Region:
        return self.regions[0]

    def verify_op(self) -> None:
        block = self.body.block
        if len(block.args) != len(self.operands):
            raise TcVerificationError(
                f"kernel.elementwise has {len(self.operands)} operands but its body takes "
                f"{len(block.args)} arguments"
            )
        for arg, operand in zip(block.args, self.operands, strict=True):
            if arg.type != TensorType(operand.type.dtype, ()):
                raise TcVerificationError(
                    f"kernel.elementwise body argument {arg.type} does not match the element "
                    f"of operand {operand.type}"
                )
        for op in block.ops:
            if not (op.has_trait(ELEMENTWISE) or op.has_trait(TERMINATOR) or op.name == "tx.constant"):
                raise TcVerificationError(f"{op.name} is not elementwise and cannot be in a kernel")
            for result in op.results:
                if result.type.rank != 0:
                    raise TcVerificationError(
                        f"{op.name} inside kernel.elementwise must be scalar, found {result.type}"
                    )

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        from ..interpreter import run_block

        shape = np.broadcast_shapes(*(np.shape(a) for a in operands))
        outs = run_block(self.body.block, operands)
        return [np.broadcast_to(out, shape) for out in outs]


class Yield(NoResults):
    """`kernel.yield %v : tensor<f64>`: one element of each kernel result."""

    name = "kernel.yield"
    traits = frozenset({TERMINATOR})
