"""2-d pooling over the last two axes (Theano's `theano.tensor.signal.pool.pool_2d`) and its gradient.

`%y = tx.pool_2d %x {ignore_border = true, mode = "max", padding = [0, 0], stride = [2, 2], ws = [2, 2]}`
pools every window of `ws` rows x cols, `stride` apart, of a float tensor of rank >= 2 (the
leading axes are kept). `padding` pads both sides of each axis (only with `ignore_border`,
and smaller than the window, as Theano). Output rows (cols alike), Theano's `out_shape`:
with `ignore_border`, `(rows + 2*pad - ws) // stride + 1`, which must be at least 1 (a
window larger than the padded input is refused); without it, the partial windows at the
end count too: `(rows - 1) // stride + 1` when `stride >= ws`, else
`max(0, (rows - 1 - ws + stride) // stride) + 1`.

Modes, as Theano's Pool.perform: each window is clipped to the padded input, then
`max` and `sum` and `average_exc_pad` see only its elements inside the unpadded input
(the mean divides by their count), `average_inc_pad` divides the sum by the window's size
in the padded input (padding counts as zeros). `max` propagates nan.

`tx.pool_2d_grad %x, %g` (same attributes) is the gradient wrt x for the output gradient g.
For `max` it follows Theano's MaxPoolGrad: every element of a window equal to the window's
maximum receives that window's gradient (so ties share it, each getting all of it;
overlapping windows add up). For the other modes each element of a window receives the
window's gradient, divided by the mode's divisor. Its own gradient (linear modes) is
pool_2d again wrt g; max pooling has no second derivative here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..attributes import Attribute, attr, int_tuple
from ..core import FRESH, PURE, Operation, Region
from ..errors import TcGradientError, TcShapeError, TcTypeError, TcValueError
from ..sizes import STATIC, TERMS, S, Sizes
from ..types import TensorType

if TYPE_CHECKING:
    from ..builder import Builder
    from ..core import Value
    from ..shape_state import ShapeState, SymbolicShape

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def pool_room(sizes: Sizes[S], size: S, ws: int, pad: int) -> S:
    """Window positions at stride 1 along one axis of the padded input (ignore_border
    needs at least one)."""
    return sizes.add(sizes.sub(sizes.add(size, 2 * pad), ws), 1)


def pool_output_size(sizes: Sizes[S], size: S, ws: int, stride: int, pad: int, ignore_border: bool) -> S:
    """Theano's out_shape along one axis, in any evaluator's sizes (ir/sizes.py): the rule the
    type, the shape plan, the reference and codegen all evaluate."""
    if ignore_border:
        return sizes.add(sizes.floordiv(sizes.sub(pool_room(sizes, size, ws, pad), 1), stride), 1)
    if stride >= ws:  # 0 for an empty axis
        return sizes.add(sizes.floordiv(sizes.sub(size, 1), stride), 1)
    return sizes.add(sizes.maximum(0, sizes.floordiv(sizes.sub(size, 1 + ws - stride), stride)), 1)


def _check_attributes(name: str, attributes: dict[str, Attribute]) -> None:
    for key, low in (("ws", 1), ("stride", 1), ("padding", 0)):
        value = attributes.get(key)
        if not isinstance(value, tuple) or len(value) != 2 or not all(isinstance(v, int) for v in value):
            raise TcTypeError(f"{name}: {key} must be a pair of ints, found {value!r}")
        if any(v < low for v in value):
            raise TcValueError(f"{name}: {key} must be at least {low}, found {value!r}")
    if attributes.get("mode") not in MODES:
        raise TcValueError(
            f"{name}: mode must be one of {', '.join(MODES)}, found {attributes.get('mode')!r}"
        )
    if not isinstance(attributes.get("ignore_border"), bool):
        raise TcTypeError(f"{name}: ignore_border must be a bool")
    ws, pad = attributes["ws"], attributes["padding"]
    if pad != (0, 0) and not attributes["ignore_border"]:
        raise TcValueError(f"{name}: padding works only with ignore_border=True")
    if any(p >= w for p, w in zip(pad, ws, strict=True)):  # type: ignore[arg-type]
        raise TcValueError(f"{name}: the padding {pad} must be smaller than the window {ws}")


def pool_output_type(name: str, x: TensorType, attributes: dict[str, Attribute]) -> TensorType:
    _check_attributes(name, attributes)
    if x.rank < 2 or not x.dtype.is_float:
        raise TcTypeError(f"{name} pools the last two axes of an f32 or f64 tensor of rank >= 2, found {x}")
    shape = list(x.shape[:-2])
    for a, what in ((0, "rows"), (1, "cols")):
        size = x.shape[x.rank - 2 + a]
        ws, stride, pad = (int_tuple(attributes[k])[a] for k in ("ws", "stride", "padding"))  # type: ignore[arg-type]
        if size is None:
            shape.append(None)
            continue
        out = pool_output_size(STATIC, size, ws, stride, pad, bool(attributes["ignore_border"]))
        if out < 1:
            raise TcShapeError(
                f"{name}: the window ({ws} {what}) is larger than the input ({size} {what}, padded "
                f"to {size + 2 * pad}) with ignore_border=True"
            )
        shape.append(out)
    return TensorType(x.dtype, tuple(shape))


class _PoolFamily(Operation):
    traits = frozenset({PURE, FRESH})
    ws = attr(tuple, convert=int_tuple)
    stride = attr(tuple, convert=int_tuple)
    padding = attr(tuple, convert=int_tuple, default=(0, 0))
    mode = attr(str, default="max")
    ignore_border = attr(bool, default=True)

    def output_terms(self, state: ShapeState, x: SymbolicShape) -> SymbolicShape:
        """The pooled shape as terms, with the bound a window larger than the input breaks."""
        from ..shape_checks import Bound
        from ..shape_state import location

        shape = list(x[:-2])
        for a, what in ((0, "row"), (1, "col")):
            size = x[len(x) - 2 + a]
            ws, stride, pad = self.ws[a], self.stride[a], self.padding[a]
            if self.ignore_border:
                room = pool_room(TERMS, size, ws, pad)
                if not isinstance(room, int) or room < 1:
                    text = f"output {what}s (padded input {what}s - window {what}s + 1, ignore_border=True)"
                    state.bounds.append(Bound(room, 1, text, self.name, location(self)))
            shape.append(pool_output_size(TERMS, size, ws, stride, pad, self.ignore_border))
        return tuple(shape)

    def windows(
        self, shape: Sequence[int]
    ) -> Iterator[tuple[tuple[int, int], tuple[slice, slice], int, int]]:
        """(rows, cols, elements inside the input, elements inside the padded input) per output."""
        axes = []
        for a in (0, 1):
            size, ws, stride, pad = shape[len(shape) - 2 + a], self.ws[a], self.stride[a], self.padding[a]
            spans = []
            for r in range(pool_output_size(STATIC, size, ws, stride, pad, self.ignore_border)):
                start = r * stride
                end = min(start + ws, size + 2 * pad)
                spans.append((max(start - pad, 0), min(end - pad, size), end - start))
            axes.append(spans)
        for r, (r0, r1, rp) in enumerate(axes[0]):
            for c, (c0, c1, cp) in enumerate(axes[1]):
                yield (r, c), (slice(r0, r1), slice(c0, c1)), (r1 - r0) * (c1 - c0), rp * cp

    def divisor(self, inside: int, padded: int) -> int:
        return {"average_exc_pad": inside, "average_inc_pad": padded}.get(self.mode, 1)


class Pool2D(_PoolFamily):
    """pool_2d(x): pool every ws window of the last two axes (max, sum or average)."""

    name = "tx.pool_2d"
    arity = 1

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        return [pool_output_type(cls.name, operand_types[0], attributes)]

    def shape_rule(self, state: ShapeState) -> None:
        state.shapes[self.results[0]] = self.output_terms(state, state.shapes[self.operands[0]])

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        x = np.asarray(operands[0])
        shape = [*x.shape[:-2], *(pool_output_size(STATIC, *s) for s in self._sizes(x.shape))]
        y = np.empty(shape, x.dtype)
        for (r, c), (rows, cols), inside, padded in self.windows(x.shape):
            window = x[..., rows, cols]
            if self.mode == "max":
                y[..., r, c] = window.max(axis=(-2, -1))
            else:
                y[..., r, c] = window.sum(axis=(-2, -1)) / x.dtype.type(self.divisor(inside, padded))
        return [y]

    def _sizes(self, shape: Sequence[int]) -> list[tuple[int, int, int, int, bool]]:
        return [
            (shape[len(shape) - 2 + a], self.ws[a], self.stride[a], self.padding[a], self.ignore_border)
            for a in (0, 1)
        ]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        (g,) = output_grads
        if g is None:
            return [None]
        return [builder.op("tx.pool_2d_grad", self.operands[0], g, **dict(self.attributes))]


class Pool2DGrad(_PoolFamily):
    """The gradient of pool_2d wrt x for the output gradient g (see the module docstring)."""

    name = "tx.pool_2d_grad"
    arity = 2

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        x, g = operand_types
        y = pool_output_type(cls.name, x, attributes)
        same = g.rank == y.rank and g.dtype is y.dtype
        pairs = zip(y.shape, g.shape, strict=False)
        if not same or any(a is not None and b is not None and a != b for a, b in pairs):
            raise TcTypeError(f"{cls.name}: the output gradient must be {y}, found {g}")
        return [x]

    def shape_rule(self, state: ShapeState) -> None:
        from ..shape_checks import Constraint
        from ..shape_state import location

        x, g = (state.shapes[v] for v in self.operands)
        for a, b in zip(self.output_terms(state, x), g, strict=True):
            if a != b:
                state.constraints.append(Constraint(a, b, self.name, location(self)))
        state.shapes[self.results[0]] = x

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        x, g = (np.asarray(v) for v in operands)
        gx = np.zeros(x.shape, x.dtype)
        for (r, c), (rows, cols), inside, padded in self.windows(x.shape):
            share = g[..., r, c][..., None, None]
            if self.mode == "max":
                window = x[..., rows, cols]
                peak = window.max(axis=(-2, -1), keepdims=True)
                gx[..., rows, cols] += np.where(window == peak, share, x.dtype.type(0))
            else:
                gx[..., rows, cols] += share / x.dtype.type(self.divisor(inside, padded))
        return [gx]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """Linear modes: pool_2d_grad is pool_2d's transpose, so its gradient wrt g is pool_2d."""
        (h,) = output_grads
        if h is None:
            return [None, None]
        if self.mode == "max":
            raise TcGradientError(f"{self.name} (max pooling) has no second derivative in tc")
        return [None, builder.op("tx.pool_2d", h, **dict(self.attributes))]
