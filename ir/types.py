"""Tensor types: a dtype and a shape whose dimensions are known or `?`.

A dimension of 1 is broadcastable; a `?` dimension is not (as in Theano: a
`T.matrix()` never stretches, a `T.row()` does). That makes broadcasting a
property of the types, decided at build time, and lets the backends emit
one fixed loop nest per kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .dtypes import DType
from .errors import TcShapeError
from .sizes import STATIC, SizeMismatch, broadcast

Dim = int | None  # None is the unknown dimension `?`


@dataclass(frozen=True)
class TensorType:
    """`tensor<2x?xf32>`; a scalar is the rank-0 `tensor<f64>`."""

    dtype: DType
    shape: tuple[Dim, ...] = ()

    def __post_init__(self) -> None:
        for d in self.shape:
            if d is not None and (not isinstance(d, int) or d < 0):
                raise TcShapeError(f"invalid dimension {d!r} in shape {self.shape!r}")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        """Theano's broadcastable pattern: True where the dimension is 1."""
        return tuple(d == 1 for d in self.shape)

    @property
    def is_static(self) -> bool:
        return all(d is not None for d in self.shape)

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(dtype, self.shape)

    def with_shape(self, shape: Sequence[Dim]) -> TensorType:
        return TensorType(self.dtype, tuple(shape))

    def accepts_shape(self, shape: Sequence[int]) -> bool:
        """Whether a concrete array shape is an instance of this type."""
        return len(shape) == self.rank and all(
            d is None or d == s for d, s in zip(self.shape, shape, strict=True)
        )

    def __str__(self) -> str:
        dims = "".join(("?" if d is None else str(d)) + "x" for d in self.shape)
        return f"tensor<{dims}{self.dtype.value}>"  # (formatting the enum itself is 4x slower)


def broadcast_shapes(*shapes: Sequence[Dim]) -> tuple[Dim, ...]:
    """numpy broadcasting over static shapes, where `?` never stretches.

    Raises TcShapeError when two known dimensions differ and neither is 1.
    `?` against a known n > 1 gives n (checked again at run time).
    """
    try:
        return broadcast(STATIC, shapes)
    except SizeMismatch as mismatch:
        raise broadcast_error(shapes, mismatch) from None


def broadcast_error(shapes: Sequence[Sequence[Dim]], mismatch: SizeMismatch) -> TcShapeError:
    """The error for static `shapes` that do not broadcast, where `mismatch` was found."""
    shown = " and ".join(_show_shape(s) for s in shapes)
    return TcShapeError(f"shapes {shown} do not broadcast (axis {mismatch.axis})")


def _show_shape(shape: Sequence[Dim]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")
