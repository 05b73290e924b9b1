"""Matrix products: `%c = tx.dot %a, %b : tensor<?x?xf64>, tensor<?x?xf64> -> tensor<?x?xf64>`.

numpy's dot for ranks up to two: matrix·matrix, matrix·vector, vector·matrix
and vector·vector (a scalar). Both operands have one dtype (the builder
promotes); the contracted dimensions must agree (checked at build time when
known, before the call otherwise). tx.batched_dot multiplies batches of matrices;
tx.gemm, which only a pass makes (fuse-gemm), is BLAS's C = beta C + alpha A.B.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..attributes import Attribute, attr
from ..core import FRESH, PURE, Operation, Region, product
from ..errors import TcShapeError, TcTypeError
from ..sizes import STATIC, S, SizeMismatch, Sizes
from ..types import TensorType

if TYPE_CHECKING:
    from ..builder import Builder
    from ..core import Value
    from ..shape_state import ShapeState


BATCH, CONTRACTED = (0, 0, "pairs the batch"), (2, 1, "contracts")


def dot_shape(sizes: Sizes[S], a: Sequence[S], b: Sequence[S]) -> tuple[S, ...]:
    """tx.dot's result shape, a's contracted (last) size agreeing with b's first, in any
    evaluator's sizes (ir/sizes.py): the type rule's, the shape plan's and codegen's."""
    sizes.agree([a[-1], b[0]], (len(a) - 1, 0, "contracts"))
    return (*a[:-1], *b[1:])


def batched_dot_shape(sizes: Sizes[S], a: Sequence[S], b: Sequence[S]) -> tuple[S, ...]:
    """tx.batched_dot's result shape (batch, a's rows, b's columns), as `dot_shape`."""
    batch = sizes.agree([a[0], b[0]], BATCH)
    sizes.agree([a[2], b[1]], CONTRACTED)
    return (batch, a[1], b[2])


class Dot(Operation):
    name = "tx.dot"
    traits = frozenset({PURE, FRESH})
    arity = 2

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        a, b = operand_types
        if a.dtype is not b.dtype:
            raise TcTypeError(f"tx.dot needs operands of one dtype, found {a} and {b}")
        if a.rank not in (1, 2) or b.rank not in (1, 2):
            raise TcTypeError(f"tx.dot takes vectors and matrices, found {a} and {b}")
        try:
            shape = dot_shape(STATIC, a.shape, b.shape)
        except SizeMismatch:
            raise TcShapeError(
                f"tx.dot contracts dimension {a.rank - 1} of the left operand (size {a.shape[-1]}) "
                f"with dimension 0 of the right (size {b.shape[0]}): {a} and {b} differ on the "
                "contracted dimension"
            ) from None
        return [TensorType(a.dtype, shape)]

    def flops(self, operand_shapes: Sequence[Sequence[Any]], result_shapes: Sequence[Sequence[Any]]) -> Any:
        """A multiply and an add per result element and contracted term."""
        return 2 * product(result_shapes[0]) * operand_shapes[0][-1]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        a, b = operands
        dtype = self.results[0].type.dtype.numpy
        if dtype.kind == "f":
            # Every product in IEEE arithmetic, then summed, as the native code computes it:
            # BLAS behind np.dot (and einsum) may skip a zero factor, so 0 * inf gave 0 or a
            # sum of infinities instead of nan.
            left = a if a.ndim == 2 else a[None, :]
            right = b if b.ndim == 2 else b[:, None]
            # In slices of the contracted axis, so that no temporary exceeds ~2^22 elements.
            step = max(1, (1 << 22) // max(1, left.shape[0] * right.shape[1]))
            total = np.zeros((left.shape[0], right.shape[1]), np.result_type(left, right))
            with np.errstate(all="ignore"):  # inf * 0 is nan here, as in the native code
                for k in range(0, left.shape[1], step):
                    total += np.multiply(left[:, k : k + step, None], right[None, k : k + step, :]).sum(
                        axis=1
                    )
            shape = a.shape[:-1] + b.shape[1:]
            return [np.asarray(total.reshape(shape)).astype(dtype)]
        return [np.asarray(np.dot(a, b)).astype(dtype)]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        (g,) = output_grads
        a, c = self.operands
        if g is None or not a.type.dtype.is_float:
            return [None, None]
        b = builder
        ranks = (a.type.rank, c.type.rank)
        if ranks == (2, 2):
            return [b.op("tx.dot", g, b.dimshuffle(c, [1, 0])), b.op("tx.dot", b.dimshuffle(a, [1, 0]), g)]
        if ranks == (2, 1):  # y = A v: dA is the outer product of g and v
            outer = b.op("tx.mul", b.dimshuffle(g, [0, -1]), b.dimshuffle(c, [-1, 0]))
            return [outer, b.op("tx.dot", b.dimshuffle(a, [1, 0]), g)]
        if ranks == (1, 2):  # y = v B
            outer = b.op("tx.mul", b.dimshuffle(a, [0, -1]), b.dimshuffle(g, [-1, 0]))
            return [b.op("tx.dot", c, g), outer]
        return [b.op("tx.mul", g, c), b.op("tx.mul", g, a)]


class BatchedDot(Operation):
    """`%c = tx.batched_dot %a, %b : tensor<?x?x?xf64>, tensor<?x?x?xf64> -> tensor<?x?x?xf64>`.

    One matrix product per batch entry (Theano's batched_dot, numpy's matmul of
    two 3-d arrays): c[i] = a[i] . b[i]; the batch sizes and the contracted
    dimensions must agree.
    """

    name = "tx.batched_dot"
    traits = frozenset({PURE, FRESH})
    arity = 2

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        a, b = operand_types
        if a.dtype is not b.dtype:
            raise TcTypeError(f"tx.batched_dot needs operands of one dtype, found {a} and {b}")
        if a.rank != 3 or b.rank != 3:
            raise TcTypeError(
                f"tx.batched_dot takes two 3-d tensors (batches of matrices), found {a} and {b}"
            )
        try:
            shape = batched_dot_shape(STATIC, a.shape, b.shape)
        except SizeMismatch as mismatch:
            what = "batch" if mismatch.pairs == BATCH else "contracted"
            raise TcShapeError(f"tx.batched_dot: {a} and {b} do not agree on the {what} dimension") from None
        return [TensorType(a.dtype, shape)]

    def flops(self, operand_shapes: Sequence[Sequence[Any]], result_shapes: Sequence[Sequence[Any]]) -> Any:
        """A multiply and an add per result element and contracted term."""
        return 2 * product(result_shapes[0]) * operand_shapes[0][-1]

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        a, b = operands
        return [np.asarray(np.matmul(a, b)).astype(self.results[0].type.dtype.numpy)]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        (g,) = output_grads
        a, c = self.operands
        if g is None or not a.type.dtype.is_float:
            return [None, None]
        b = builder
        return [
            b.op("tx.batched_dot", g, b.dimshuffle(c, [0, 2, 1])),
            b.op("tx.batched_dot", b.dimshuffle(a, [0, 2, 1]), g),
        ]


def gemm_shape(sizes: Sizes[S], c: Sequence[S], a: Sequence[S], b: Sequence[S]) -> tuple[S, ...]:
    """tx.gemm's result shape: the product's, which C's must equal (no broadcasting)."""
    rows, cols = dot_shape(sizes, a, b)
    return (sizes.agree([c[0], rows]), sizes.agree([c[1], cols]))


class Gemm(Operation):
    """`%w1 = tx.gemm %c, %a, %b {alpha = -0.1, beta = 1.0} : ...`: beta * c + alpha * (a . b),
    of matrices of one float dtype, c of the product's shape.

    What an update `W - lr * dot(x.T, g)` of a weight matrix becomes (passes/fuse_gemm.py, as
    Theano's gemm optimisation): one pass of the product that reads W and writes the new W,
    in place when the buffer plan allows, where the product and the update each took a pass
    over a matrix of W's size. The frontend never builds it; `evaluate` is the reference."""

    name = "tx.gemm"
    traits = frozenset({PURE, FRESH})
    arity = 3
    alpha = attr(float)
    beta = attr(float)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        c, a, b = operand_types
        if not (a.dtype is b.dtype is c.dtype and a.dtype.is_float):
            raise TcTypeError(f"tx.gemm needs float operands of one dtype, found {c}, {a} and {b}")
        if not a.rank == b.rank == c.rank == 2:
            raise TcTypeError(f"tx.gemm takes three matrices, found {c}, {a} and {b}")
        try:
            shape = gemm_shape(STATIC, c.shape, a.shape, b.shape)
        except SizeMismatch:
            raise TcShapeError(
                f"tx.gemm: {a} and {b} must agree on the contracted dimension, and {c} must "
                "have their product's shape"
            ) from None
        return [TensorType(a.dtype, shape)]

    def shape_rule(self, state: ShapeState) -> None:
        from ..shape_state import PlanSizes  # (the shape plan imports the ops)

        c, a, b = (state.shapes[v] for v in self.operands)
        state.shapes[self.results[0]] = gemm_shape(PlanSizes(state, self), c, a, b)

    def flops(self, operand_shapes: Sequence[Sequence[Any]], result_shapes: Sequence[Sequence[Any]]) -> Any:
        """The product's multiply-adds, and a multiply and an add per element for the update."""
        return 2 * product(result_shapes[0]) * (operand_shapes[1][-1] + 1)

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        c, a, b = operands
        real = self.results[0].type.dtype.numpy
        (ab,) = Dot.evaluate(self, [a, b])  # type: ignore[arg-type]
        with np.errstate(all="ignore"):
            value = real.type(self.beta) * c.astype(real) + real.type(self.alpha) * ab
        return [np.asarray(value, dtype=real)]
