"""A convolution with the elementwise kernel that consumes it fused in: `kernel.conv2d`.

```
%k = kernel.conv2d %x, %w, %b {dilation = [1, 1], flip = true, ...} : ... ({
^bb0(%y: tensor<f32>, %c: tensor<f32>):
  %s = tx.add %y, %c : tensor<f32>
  %t = tx.tanh %s : tensor<f32>
  kernel.yield %t : tensor<f32>
})
```

Operands: tx.conv2d's two (input, filters), then the kernel's other operands. The region
is a kernel.elementwise body whose first argument is one element of the convolution
(tx.conv2d with this op's attributes) and whose others are elements of the other
operands, broadcast to the convolution's shape, which is the result's: the other operands
may not widen it. `fuse` forms it from a tx.conv2d whose only use is such a kernel (a bias
and an activation), so that the backend applies the body to each image's output while it
is still in cache instead of writing the convolution out and reading it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..attributes import Attribute
from ..core import Region, product
from ..errors import TcShapeError, TcVerificationError
from ..types import TensorType, broadcast_shapes
from .conv import Conv2D, ConvFamily, conv_output_terms, conv_output_type
from .kernel import body_arithmetic, verify_body, yielded_types

if TYPE_CHECKING:
    from ..shape_state import ShapeState


class KernelConv2D(ConvFamily):
    name = "kernel.conv2d"
    num_regions = 1

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        conv = conv_output_type(cls.name, operand_types[0], operand_types[1], attributes)
        for t in operand_types[2:]:
            widened = broadcast_shapes(conv.shape, t.shape)
            if len(widened) != 4 or any(d == 1 and e != 1 for d, e in zip(conv.shape, widened, strict=True)):
                raise TcShapeError(f"{cls.name}: an operand {t} widens the convolution's {conv}")
        return [TensorType(t.dtype, conv.shape) for t in yielded_types(cls.name, regions)]

    @property
    def body(self) -> Region:
        return self.regions[0]

    @property
    def conv_type(self) -> TensorType:
        x, w = (v.type for v in self.operands[:2])
        return conv_output_type(self.name, x, w, self.attributes)

    def verify_op(self) -> None:
        if len(self.operands) < 2:
            found = len(self.operands)
            raise TcVerificationError(f"{self.name} needs the input and the filters, found {found} operands")
        verify_body(self, [self.conv_type, *(v.type for v in self.operands[2:])])

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        from ..interpreter import run_block

        x, w = operands[:2]
        conv = Conv2D.evaluate(self, [x, w])[0]  # type: ignore[arg-type]
        outs = run_block(self.body.block, [conv, *operands[2:]])
        return [np.broadcast_to(out, conv.shape).copy() for out in outs]

    def shape_rule(self, state: ShapeState) -> None:
        x, w = (state.shapes[v] for v in self.operands[:2])
        shape = conv_output_terms(self, state, x, w)
        for value in self.operands[2:]:
            state.broadcast_into(self, state.shapes[value], shape)
        state.shapes.update((r, shape) for r in self.results)

    def flops(self, operand_shapes: Sequence[Sequence[Any]], result_shapes: Sequence[Sequence[Any]]) -> Any:
        conv = super().flops(operand_shapes[:2], result_shapes)
        return conv + product(result_shapes[0]) * body_arithmetic(self)
