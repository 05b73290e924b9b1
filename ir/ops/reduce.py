"""Reductions: `tx.reduce %x {kind = "sum", axes = [1], keepdims = false}`.

One op for the family; `kind` is sum, prod, mean, max, min, argmax or argmin.
Result dtypes follow numpy on 64-bit Linux, except that unsigned sums give
int64 (tc has no uint64): sum/prod of bool and integers give int64, mean of
integers float64, max/min keep the dtype, argmax/argmin give int64 (over one
axis, or over the flattened array when every axis is reduced). max, min,
argmax and argmin of an empty selection are errors (checked before the call);
nan propagates through max/min, and argmax/argmin point at the first nan.
Native floating sums are blocked (codegen_llvm/reduce.py): a few ulps from exact, like
numpy's pairwise sums, but the last bits may differ from numpy's, which folding runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..attributes import Attribute, attr, int_tuple
from ..core import FRESH, PURE, Operation, Region, product
from ..dtypes import DType
from ..errors import TcTypeError
from ..sizes import S
from ..types import TensorType

if TYPE_CHECKING:
    from ..builder import Builder
    from ..core import Value

KINDS = ("sum", "prod", "mean", "max", "min", "argmax", "argmin")
NEEDS_ELEMENTS = frozenset({"max", "min", "argmax", "argmin"})


def reduce_dtype(kind: str, dtype: DType) -> DType:
    if kind in ("argmax", "argmin"):
        return DType.I64
    if kind == "mean":
        return dtype if dtype.is_float else DType.F64
    if kind in ("sum", "prod") and not dtype.is_float:
        return DType.I64
    return dtype


def reduced_type(
    name: str, kind: str, axes: tuple[int, ...], keepdims: bool, source: TensorType
) -> TensorType:
    """The type of the reduction of kind `kind` of `source` over `axes` (`name` is the op's,
    for the errors): tx.reduce's type rule, which kernel.reduce applies to each of its results."""
    if kind not in KINDS:
        raise TcTypeError(f"{name}: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if len(set(axes)) != len(axes) or any(not 0 <= a < source.rank for a in axes):
        raise TcTypeError(f"{name}: axes {list(axes)} are not distinct axes of {source}")
    if kind in ("argmax", "argmin") and len(axes) not in (1, source.rank):
        raise TcTypeError(f"{name}: {kind} takes one axis or all of them, found {list(axes)}")
    if source.dtype.is_bool and kind in ("max", "min"):
        raise TcTypeError(f"{name}: {kind} of a bool tensor; use any/all (or cast it)")
    return TensorType(reduce_dtype(kind, source.dtype), reduced_shape(source.shape, axes, keepdims))


def reduced_shape(shape: Sequence[S], axes: tuple[int, ...], keepdims: bool) -> tuple[S | int, ...]:
    """`shape` with `axes` dropped (or kept as 1), in any evaluator's sizes (ir/sizes.py): static
    sizes for the type, terms for the shape plan."""
    return tuple(1 if a in axes else d for a, d in enumerate(shape) if keepdims or a not in axes)


def reduce_array(x: np.ndarray, kind: str, axes: tuple[int, ...], keepdims: bool, out: DType) -> np.ndarray:
    """The reference reduction (tx.reduce's and kernel.reduce's): `x` reduced over `axes`,
    as an array of dtype `out`."""
    value: Any
    if kind in ("argmax", "argmin"):
        pick: Any = np.argmax if kind == "argmax" else np.argmin
        if len(axes) == x.ndim and x.ndim != 1:
            flat = pick(x.reshape(-1))
            value = np.reshape(flat, (1,) * x.ndim) if keepdims else np.asarray(flat)
        else:
            value = pick(x, axis=axes[0] if axes else None, keepdims=keepdims)
    else:
        function: Any = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "max": np.max, "min": np.min}
        kwargs = {"dtype": out.numpy} if kind in ("sum", "prod", "mean") else {}
        with np.errstate(all="ignore"):
            value = function[kind](x, axis=axes, keepdims=keepdims, **kwargs)
    return np.asarray(value).astype(out.numpy)


class Reduce(Operation):
    name = "tx.reduce"
    traits = frozenset({PURE, FRESH})
    arity = 1
    kind = attr(str)
    axes = attr(tuple, convert=int_tuple)
    keepdims = attr(bool)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        (source,) = operand_types
        kind, axes, keepdims = attributes["kind"], attributes["axes"], attributes["keepdims"]
        assert isinstance(axes, tuple)
        return [reduced_type(cls.name, kind, axes, bool(keepdims), source)]  # type: ignore[arg-type]

    def flops(self, operand_shapes: Sequence[Sequence[Any]], result_shapes: Sequence[Sequence[Any]]) -> Any:
        return product(operand_shapes[0])

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        (x,) = operands
        out = self.results[0].type.dtype
        return [reduce_array(np.asarray(x), self.kind, self.axes, self.keepdims, out)]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """sum/mean spread g over the reduced axes; max/min send it to the elements equal
        to the extreme (all of them on ties, as Theano); prod divides the product by each
        element (so an element equal to zero gets nan)."""
        (g,) = output_grads
        (x,) = self.operands
        if g is None or not x.type.dtype.is_float or self.kind in ("argmax", "argmin"):
            return [None]
        b = builder
        kept = 0
        pattern = []
        for axis in range(x.type.rank):
            if axis in self.axes and not self.keepdims:
                pattern.append(-1)
            else:
                pattern.append(kept)
                kept += 1
        g = b.dimshuffle(g, pattern)  # g with the reduced axes back, as length 1
        if self.kind == "sum":
            return [b.fill(x, g)]
        if self.kind == "mean":
            count = b.cast(b.op("tx.size", x, axes=self.axes), x.type.dtype)
            return [b.fill(x, b.op("tx.div", g, count))]
        y = b.dimshuffle(self.result, pattern)
        if self.kind == "prod":
            return [b.op("tx.div", b.op("tx.mul", g, y), x)]
        zero = b.constant(0.0, x.type.dtype)
        return [b.op("tx.select", b.op("tx.eq", x, y), b.fill(x, g), zero)]
