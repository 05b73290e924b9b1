"""Fused kernels: the output of fusion and the input of the backends.

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

```
%s, %q = kernel.reduce %w {axes = [0, 1], keepdims = false, kinds = ["sum", "sum"]} : ... ({
^bb0(%a: tensor<f32>):
  %0 = tx.abs %a : tensor<f32>
  %1 = tx.mul %a, %a : tensor<f32>
  kernel.yield %0, %1 : tensor<f32>, tensor<f32>
})
```

A reduction kernel: the same scalar body over the broadcast of its operands,
whose yielded value k is reduced (kind `kinds[k]`, as tx.reduce) over `axes`
of that iteration space, with `keepdims`, into result k; the yielded values
are never stored. argmax and argmin come alone (one kind). `fuse` forms these
from a kernel.elementwise that only feeds one reduction, and groups sibling
reductions of the same operands and axes into one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..attributes import Attribute, attr, int_tuple, str_tuple
from ..core import ELEMENTWISE, FRESH, PURE, TERMINATOR, NoResults, Operation, Region, product
from ..errors import TcTypeError, TcVerificationError
from ..types import TensorType, broadcast_shapes
from .reduce import NEEDS_ELEMENTS, reduce_array, reduced_type

if TYPE_CHECKING:
    from ..shape_state import ShapeState


def yielded_types(name: str, regions: Sequence[Region]) -> list[TensorType]:
    term = regions[0].block.terminator
    if term is None:
        raise TcVerificationError(f"{name} body does not end in kernel.yield")
    return [v.type for v in term.operands]


def verify_body(op: Operation, inputs: Sequence[TensorType] | None = None) -> None:
    """The region is a scalar body over one element of each input: by default the types of
    the op's operands."""
    block = op.regions[0].block
    inputs = [v.type for v in op.operands] if inputs is None else inputs
    if len(block.args) != len(inputs):
        raise TcVerificationError(
            f"{op.name} has {len(inputs)} operands but its body takes {len(block.args)} arguments"
        )
    for arg, input_type in zip(block.args, inputs, strict=True):
        if arg.type != TensorType(input_type.dtype, ()):
            raise TcVerificationError(
                f"{op.name} body argument {arg.type} does not match the element of operand {input_type}"
            )
    for inner in block.ops:
        if not (inner.has_trait(ELEMENTWISE) or inner.has_trait(TERMINATOR) or inner.name == "tx.constant"):
            raise TcVerificationError(f"{inner.name} is not elementwise and cannot be in a kernel")
        for result in inner.results:
            if result.type.rank != 0:
                raise TcVerificationError(
                    f"{inner.name} inside {op.name} must be scalar, found {result.type}"
                )


def _run_body(op: Operation, operands: list[np.ndarray]) -> list[np.ndarray]:
    """The body run with numpy over whole arrays: each yielded value at the broadcast shape."""
    from ..interpreter import run_block

    shape = np.broadcast_shapes(*(np.shape(a) for a in operands))
    outs = run_block(op.regions[0].block, operands)
    return [np.broadcast_to(out, shape) for out in outs]


class KernelElementwise(Operation):
    name = "kernel.elementwise"
    traits = frozenset({PURE, ELEMENTWISE, FRESH})
    num_regions = 1

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        shape = broadcast_shapes(*(t.shape for t in operand_types))
        return [TensorType(t.dtype, shape) for t in yielded_types(cls.name, regions)]

    @property
    def body(self) -> Region:
        return self.regions[0]

    def verify_op(self) -> None:
        verify_body(self)

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        return _run_body(self, operands)

    def flops(self, operand_shapes: Sequence[Sequence[Any]], result_shapes: Sequence[Sequence[Any]]) -> Any:
        return product(result_shapes[0]) * body_arithmetic(self)


class KernelReduce(Operation):
    name = "kernel.reduce"
    traits = frozenset({PURE, FRESH})
    num_regions = 1
    kinds = attr(tuple, convert=str_tuple)
    axes = attr(tuple, convert=int_tuple)
    keepdims = attr(bool)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        shape = broadcast_shapes(*(t.shape for t in operand_types))
        kinds, axes, keepdims = attributes["kinds"], attributes["axes"], attributes["keepdims"]
        assert isinstance(kinds, tuple) and isinstance(axes, tuple)
        yielded = yielded_types(cls.name, regions)
        if len(yielded) != len(kinds) or not kinds:
            raise TcTypeError(f"{cls.name}: {len(kinds)} kinds for {len(yielded)} yielded values")
        if len(kinds) > 1 and any(k in ("argmax", "argmin") for k in kinds):
            raise TcTypeError(f"{cls.name}: argmax and argmin reduce alone, found kinds {list(kinds)}")
        axes = int_tuple(axes)
        return [
            reduced_type(cls.name, kind, axes, bool(keepdims), TensorType(t.dtype, shape))
            for kind, t in zip(kinds, yielded, strict=True)
        ]

    @property
    def body(self) -> Region:
        return self.regions[0]

    @property
    def source_type(self) -> TensorType:
        """The iteration space: the broadcast of the operands, with the yielded dtype `k`."""
        return TensorType(self.yield_types[0].dtype, broadcast_shapes(*(v.type.shape for v in self.operands)))

    @property
    def yield_types(self) -> list[TensorType]:
        """The types of the yielded elements (rank 0), one per result."""
        return yielded_types(self.name, self.regions)

    def verify_op(self) -> None:
        verify_body(self)

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        values = _run_body(self, operands)
        return [
            reduce_array(np.asarray(value), kind, self.axes, self.keepdims, result.type.dtype)
            for value, kind, result in zip(values, self.kinds, self.results, strict=True)
        ]

    def flops(self, operand_shapes: Sequence[Sequence[Any]], result_shapes: Sequence[Sequence[Any]]) -> Any:
        """The body and one combining step per element of the iteration space, which the
        operand of the highest rank spans (the others broadcast along it)."""
        space = max(operand_shapes, key=len)
        return product(space) * (body_arithmetic(self) + len(self.kinds))

    def shape_rule(self, state: ShapeState) -> None:
        """The operands broadcast (as kernel.elementwise's), then each result drops or keeps
        `axes` (as tx.reduce's); max, min, argmax and argmin need a non-empty selection."""
        from ..shape_rules import reduce_shape

        space = state.broadcast(self, [state.shapes[v] for v in self.operands], self.source_type.shape)
        needs_elements = any(kind in NEEDS_ELEMENTS for kind in self.kinds)
        shape = reduce_shape(self, state, space, self.axes, self.keepdims, needs_elements)
        state.shapes.update((r, shape) for r in self.results)


class Yield(NoResults):
    """`kernel.yield %v : tensor<f64>`: one element of each kernel result."""

    name = "kernel.yield"
    traits = frozenset({TERMINATOR})


def body_arithmetic(op: Operation) -> int:
    """The body's ops that compute (not its constants and yield): each counts one operation
    per element, a tanh as an add, as rooflines count them."""
    return sum(1 for inner in op.regions[0].block.ops if inner.name not in ("kernel.yield", "tx.constant"))
