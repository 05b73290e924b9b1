"""The loop-nest abstraction every emitter builds on: strided arrays, iteration spaces over
them with broadcast axes, the one contiguity test, and the plain serial nest.

An `IterationSpace` is an extent (one i64 per axis) and, per operand, a byte stride per
axis or None where the operand is broadcast along it. Emitters walk it in one of these ways:

- `walk`: the serial nest, axis by axis in C order, calling a body with every operand's
  element pointer and the loop counters (views and shape ops, gather/scatter, cumsum,
  the leading axes of pooling);
- loops.py: the elementwise kernels' choice, at run time, between the flat vectorised loop,
  the per-row loop and the tiled strided nest of strided.py, each spread over the cores by
  jobs.launch, with `contiguous` deciding which one applies;
- reduce_walk.py: the reductions' nest, which moves its pointers with `step` and keeps
  partial sums in registers over the trailing reduced axes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..ir import DType
from . import llvm_ir as ll
from .control import counted_loop
from .types import I1, I8_PTR, I64


class ArrayRef:
    """A strided array at run time: base pointer, shape and byte strides (all i64).
    `contiguous`: C-contiguous by construction (a buffer this code allocated), so kernels over
    it need no run-time layout check and no strided fallback. (A plain class, as IterationSpace:
    defining a typing.NamedTuple cost an empty cache's first compile 0.08 ms.)"""

    __slots__ = ("dtype", "pointer", "shape", "strides", "static_shape", "contiguous")

    def __init__(
        self,
        dtype: DType,
        pointer: ll.Value,
        shape: list[ll.Value],
        strides: list[ll.Value],
        static_shape: tuple[int | None, ...],
        contiguous: bool = False,
    ) -> None:
        self.dtype, self.pointer, self.shape, self.strides = dtype, pointer, shape, strides
        self.static_shape, self.contiguous = static_shape, contiguous

    def sizes(self) -> list[int | ll.Value]:
        """Each axis's size: the static one where the type knows it, else the run-time value
        (the sizes a rule over ir/sizes.py reads in codegen)."""
        return [d if d is not None else n for d, n in zip(self.static_shape, self.shape, strict=True)]


Strides = list[ll.Value | None]  # per axis of a space: a byte stride, or None where broadcast


def broadcast_strides(array: ArrayRef, static_extent: Sequence[int | None]) -> Strides:
    """Per axis of a space of `static_extent`: the array's byte stride, or None where it is
    broadcast (arrays align to the right; a static size of 1 or a missing axis broadcasts)."""
    rank, offset = len(static_extent), len(static_extent) - len(array.shape)
    result: Strides = []
    for axis in range(rank):
        local = axis - offset
        if local < 0 or (array.static_shape[local] == 1 and static_extent[axis] != 1):
            result.append(None)
        else:
            result.append(array.strides[local])
    return result


def contiguous_over(
    b: ll.IRBuilder,
    extent: Sequence[ll.Value],
    strides: Sequence[ll.Value | None],
    itemsize: int,
    axes: Sequence[int] | None = None,
) -> ll.Value:
    """i1: whether an operand is C-contiguous over `axes` (all by default) of `extent`; an
    axis of size 0 or 1 may have any stride (nothing moves along it)."""
    ok: ll.Value = I1(1)
    expected: ll.Value = I64(itemsize)
    for axis in reversed(range(len(extent)) if axes is None else axes):
        stride = strides[axis]
        assert stride is not None, "a broadcast axis is not part of a contiguous block"
        at_most_one = b.icmp_signed("<=", extent[axis], I64(1))
        ok = b.and_(ok, b.or_(at_most_one, b.icmp_signed("==", stride, expected)))
        expected = b.mul(expected, extent[axis])
    return ok


def is_contiguous(b: ll.IRBuilder, array: ArrayRef) -> ll.Value:
    """i1: whether `array` is C-contiguous over its own shape."""
    if array.contiguous:
        return I1(1)
    return contiguous_over(b, array.shape, array.strides, array.dtype.itemsize)


def byte_size(b: ll.IRBuilder, extent: Sequence[ll.Value], itemsize: int) -> ll.Value:
    """The bytes of a C-contiguous block of `extent`."""
    total: ll.Value = I64(itemsize)
    for dim in extent:
        total = b.mul(total, dim)
    return total


# body(element pointers (i8*), loop counters): one point of a walk
PointBody = Callable[[list[ll.Value], list[ll.Value]], None]


class IterationSpace:
    """Axes of `extent`, walked by operands that move by `strides[k]` (bytes per axis)."""

    __slots__ = ("extent", "strides")

    def __init__(self, extent: Sequence[ll.Value], strides: Sequence[Strides]) -> None:
        self.extent, self.strides = extent, strides

    @classmethod
    def over(
        cls, extent: Sequence[ll.Value], static_extent: Sequence[int | None], arrays: Sequence[ArrayRef]
    ) -> IterationSpace:
        """The space of `extent` walked by `arrays`, broadcast as numpy broadcasts them."""
        return cls(extent, [broadcast_strides(a, static_extent) for a in arrays])

    @property
    def rank(self) -> int:
        return len(self.extent)

    def step(self, b: ll.IRBuilder, pointers: Sequence[ll.Value], axis: int, i: ll.Value) -> list[ll.Value]:
        """Each operand's i8* pointer moved to index `i` of `axis` (unmoved where broadcast)."""
        return [
            p if s[axis] is None else b.gep(p, [b.mul(i, s[axis])])
            for p, s in zip(pointers, self.strides, strict=True)
        ]

    def walk(self, b: ll.IRBuilder, name: str, pointers: Sequence[ll.Value], body: PointBody) -> None:
        """body(element pointers, counters) at every point, the last axis innermost."""

        def level(axis: int, moved: list[ll.Value], counters: list[ll.Value]) -> None:
            if axis == self.rank:
                body(moved, counters)
                return
            with counted_loop(b, self.extent[axis], f"{name}{axis}") as i:
                level(axis + 1, self.step(b, moved, axis, i), [*counters, i])

        level(0, [b.bitcast(p, I8_PTR) for p in pointers], [])


__all__ = [
    "ArrayRef",
    "IterationSpace",
    "PointBody",
    "Strides",
    "broadcast_strides",
    "byte_size",
    "contiguous_over",
    "is_contiguous",
]
