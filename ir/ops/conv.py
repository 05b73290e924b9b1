"""2-d convolution (Theano's `T.nnet.conv2d`) and its two gradients.

`%y = tx.conv2d %x, %w {dilation = [1, 1], flip = true, padding = [0, 0], stride = [1, 1]}`:
the input `x` is NCHW (batch, channels, rows, cols), the filters `w` OIHW (output
channels, input channels, rows, cols); both f32 or f64, one dtype. With `flip` it is a
true convolution (the filters flipped along rows and cols, Theano's `filter_flip=True`),
without it a cross-correlation:

    y[n, o, r, c] = sum over ch, i, j of  w[o, ch, i', j'] * xp[n, ch, r*sr + i*dr, c*sc + j*dc]

where `xp` is `x` padded with `padding` zeros on both sides of each spatial axis, and
`(i', j')` is `(i, j)`, or `(kh-1-i, kw-1-j)` with `flip`. `border` says where the padding
comes from: "explicit" (the `padding` attribute), "full" (`dr*(kh-1)`: every overlap) or
"half" (`(dr*(kh-1) + 1) // 2`: Theano's half, the same size for odd filters), the last two
computed from the filters' run-time size. The output has
`(rows + 2*pr - dr*(kh-1) - 1) // sr + 1` rows (cols alike), at least one: a dilated filter
larger than the padded input is refused (at build time when the sizes are static, before
the call otherwise), as are input channels that differ from the filters'.

The gradients are ops of their own, each with its numpy reference:
`tx.conv2d_grad_input %x, %w, %g` (the gradient wrt x; x gives only its shape) and
`tx.conv2d_grad_filters %x, %w, %g` (wrt w; w gives only its shape), with conv2d's
attributes. Both are linear in their value operands, so their own gradients are
the three ops again (second derivatives work).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, NamedTuple

import numpy as np

from ..attributes import Attribute, attr, int_tuple
from ..core import FRESH, PURE, Operation, Region, product
from ..errors import TcShapeError, TcTypeError
from ..sizes import STATIC, TERMS, S, Sizes
from ..types import TensorType

if TYPE_CHECKING:
    from ..builder import Builder
    from ..core import Value
    from ..shape_state import ShapeState, SymbolicShape

_PAIRS = ("stride", "padding", "dilation")
BORDERS = ("explicit", "full", "half")


class ConvAxis(NamedTuple, Generic[S]):
    """One spatial axis of a convolution, in the sizes of some evaluator (ir/sizes.py)."""

    pad: S  # zeros on each side
    room: S  # output positions at stride 1: padded input - dilated filter + 1 (>= 1 to fit)
    out: S  # output length


def conv_axis(
    sizes: Sizes[S], border: str, padding: int, dilation: int, stride: int, size: S, kernel: S
) -> ConvAxis[S]:
    """The padding and output length along one spatial axis of an input of `size` and
    filters of `kernel` taps: the rule the type, the shape plan and codegen all evaluate."""
    span = sizes.mul(dilation, sizes.sub(kernel, 1))  # the dilated filter's taps - 1
    if border == "full":
        pad = span
    elif border == "half":
        pad = sizes.floordiv(sizes.add(span, 1), 2)
    else:
        pad = sizes.lift(padding)
    room = sizes.sub(sizes.add(size, sizes.mul(2, pad)), span)
    return ConvAxis(pad, room, sizes.add(sizes.floordiv(sizes.sub(room, 1), stride), 1))


def _check_attributes(name: str, attributes: dict[str, Attribute]) -> None:
    for key in _PAIRS:
        value = attributes.get(key)
        if not isinstance(value, tuple) or len(value) != 2 or not all(isinstance(v, int) for v in value):
            raise TcTypeError(f"{name}: {key} must be a pair of ints, found {value!r}")
        low = 0 if key == "padding" else 1
        if any(v < low for v in value):
            raise TcTypeError(f"{name}: {key} must be at least {low}, found {value!r}")
    if attributes.get("border") not in BORDERS:
        raise TcTypeError(
            f"{name}: border must be one of {', '.join(BORDERS)}, found {attributes.get('border')!r}"
        )
    if not isinstance(attributes.get("flip"), bool):
        raise TcTypeError(f"{name}: flip must be a bool, found {attributes.get('flip')!r}")


def conv_output_type(name: str, x: TensorType, w: TensorType, attributes: dict[str, Attribute]) -> TensorType:
    """The type of conv2d(x, w): checks dtypes, ranks, channels and (static) sizes."""
    _check_attributes(name, attributes)
    for what, t in (("input", x), ("filters", w)):
        if t.rank != 4:
            raise TcTypeError(f"{name}: the {what} must be a 4-d tensor (NCHW / OIHW), found {t}")
        if not t.dtype.is_float:
            raise TcTypeError(f"{name} is defined for f32 and f64, found {what} {t}")
    if x.dtype is not w.dtype:
        raise TcTypeError(f"{name} needs input and filters of one dtype, found {x} and {w}")
    if x.shape[1] is not None and w.shape[1] is not None and x.shape[1] != w.shape[1]:
        raise TcShapeError(
            f"{name}: the input has {x.shape[1]} channels but the filters expect {w.shape[1]} ({x} and {w})"
        )
    shape: list[int | None] = [x.shape[0], w.shape[0]]
    for axis, what in ((2, "rows"), (3, "cols")):
        size, kernel = x.shape[axis], w.shape[axis]
        stride, padding, dilation = (int_tuple(attributes[k])[axis - 2] for k in _PAIRS)  # type: ignore[arg-type]
        sizes = conv_axis(STATIC, str(attributes["border"]), padding, dilation, stride, size, kernel)
        pad, out = sizes.pad, sizes.out
        if size is None or kernel is None or out is None or pad is None:
            shape.append(None)
            continue
        if out < 1:
            raise TcShapeError(
                f"{name}: the filters ({kernel} {what}, dilated to {dilation * (kernel - 1) + 1}) do not "
                f"fit in the input ({size} {what}, padded to {size + 2 * pad}); use border_mode "
                "'full' or 'half', or pad the input"
            )
        shape.append(out)
    return TensorType(x.dtype, tuple(shape))


def conv_output_terms(op: Operation, state: ShapeState, x: SymbolicShape, w: SymbolicShape) -> SymbolicShape:
    """The output shape as terms, with the checks: equal channels, filters that fit."""
    from ..shape_checks import Bound, Constraint
    from ..shape_state import location

    if x[1] != w[1]:
        state.constraints.append(
            Constraint(x[1], w[1], op.name, location(op), (1, 1, "pairs the input channels,"))
        )
    shape = [x[0], w[0]]
    for axis, what in ((2, "row"), (3, "col")):
        stride, padding, dilation = (int_tuple(op.attributes[k])[axis - 2] for k in _PAIRS)  # type: ignore[arg-type]
        sizes = conv_axis(TERMS, str(op.attributes["border"]), padding, dilation, stride, x[axis], w[axis])
        if not isinstance(sizes.room, int) or sizes.room < 1:
            what_text = f"output {what}s (padded input {what}s - dilated filter {what}s + 1)"
            state.bounds.append(Bound(sizes.room, 1, what_text, op.name, location(op)))
        shape.append(sizes.out)
    return tuple(shape)


class ConvFamily(Operation):
    traits = frozenset({PURE, FRESH})
    stride = attr(tuple, convert=int_tuple, default=(1, 1))
    padding = attr(tuple, convert=int_tuple, default=(0, 0))
    dilation = attr(tuple, convert=int_tuple, default=(1, 1))
    flip = attr(bool, default=True)
    border = attr(str, default="explicit")

    def pads(self, kernel: Sequence[int]) -> tuple[int, int]:
        """The padding of rows and cols for filters of `kernel` (rows, cols) taps."""
        return tuple(  # type: ignore[return-value]
            conv_axis(STATIC, self.border, self.padding[a], self.dilation[a], 1, 1, kernel[a]).pad
            for a in (0, 1)
        )

    def settings(self, w_shape: Sequence[int]) -> tuple[Any, ...]:
        """(stride, padding, dilation, flip) for filters of shape `w_shape`, for the references."""
        return self.stride, self.pads(w_shape[2:]), self.dilation, self.flip

    def flops(self, operand_shapes: Sequence[Sequence[Any]], result_shapes: Sequence[Sequence[Any]]) -> Any:
        """A multiply and an add per element of the forward output (conv2d's result, or the
        gradients' g) and filter tap (each filter's input channels, rows and columns)."""
        out = result_shapes[0] if len(operand_shapes) == 2 else operand_shapes[2]
        return 2 * product(out) * product(operand_shapes[1][1:])


class Conv2D(ConvFamily):
    """conv2d(x, w): NCHW input, OIHW filters; flip: true convolution (else correlation)."""

    name = "tx.conv2d"
    arity = 2

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        x, w = operand_types
        return [conv_output_type(cls.name, x, w, attributes)]

    def shape_rule(self, state: ShapeState) -> None:
        x, w = (state.shapes[v] for v in self.operands)
        state.shapes[self.results[0]] = conv_output_terms(self, state, x, w)

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        x, w = operands
        return [conv_reference(x, w, *self.settings(w.shape)).astype(x.dtype)]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        (g,) = output_grads
        if g is None:
            return [None, None]
        x, w = self.operands
        attrs = dict(self.attributes)
        return [
            builder.op("tx.conv2d_grad_input", x, w, g, **attrs),
            builder.op("tx.conv2d_grad_filters", x, w, g, **attrs),
        ]


class _ConvGradient(ConvFamily):
    """Base of the two gradients: operands (x, w, g), one of x and w only for its shape."""

    arity = 3
    result_operand = 0  # the operand whose type the result has

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        x, w, g = operand_types
        y = conv_output_type(cls.name, x, w, attributes)
        if g.rank != 4 or g.dtype is not x.dtype:
            raise TcTypeError(f"{cls.name}: the output gradient must be {y}, found {g}")
        for a, b in zip(y.shape, g.shape, strict=True):
            if a is not None and b is not None and a != b:
                raise TcShapeError(f"{cls.name}: the output gradient must be {y}, found {g}")
        return [operand_types[cls.result_operand]]

    def shape_rule(self, state: ShapeState) -> None:
        from ..shape_checks import Constraint
        from ..shape_state import location

        x, w, g = (state.shapes[v] for v in self.operands)
        y = conv_output_terms(self, state, x, w)
        for a, b in zip(y, g, strict=True):
            if a != b:
                state.constraints.append(Constraint(a, b, self.name, location(self)))
        state.shapes[self.results[0]] = (x, w)[self.result_operand]


class Conv2DGradInput(_ConvGradient):
    """The gradient of conv2d wrt its input, for the output gradient g (x gives its shape)."""

    name = "tx.conv2d_grad_input"

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        x, w, g = operands
        return [conv_grad_input_reference(x.shape, w, g, *self.settings(w.shape)).astype(x.dtype)]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """Linear in (w, g): <h, gi(w, g)> = <conv(h, w), g>."""
        (h,) = output_grads
        if h is None:
            return [None, None, None]
        x, w, g = self.operands
        attrs = dict(self.attributes)
        return [
            None,
            builder.op("tx.conv2d_grad_filters", h, w, g, **attrs),
            builder.op("tx.conv2d", h, w, **attrs),
        ]


class Conv2DGradFilters(_ConvGradient):
    """The gradient of conv2d wrt its filters, for the output gradient g (w gives its shape)."""

    name = "tx.conv2d_grad_filters"
    result_operand = 1

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        x, w, g = operands
        return [conv_grad_filters_reference(x, w.shape, g, *self.settings(w.shape)).astype(x.dtype)]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """Linear in (x, g): <h, gf(x, g)> = <conv(x, h), g>."""
        (h,) = output_grads
        if h is None:
            return [None, None, None]
        x, w, g = self.operands
        attrs = dict(self.attributes)
        return [
            builder.op("tx.conv2d_grad_input", x, h, g, **attrs),
            None,
            builder.op("tx.conv2d", x, h, **attrs),
        ]


# -- numpy references: one shifted, strided slice of the padded input per filter tap --


def _taps(w_shape: Sequence[int], out: Sequence[int], settings: Any) -> Any:
    """(i, j, row slice, col slice) of the padded input for each filter tap (i, j) as stored."""
    (sr, sc), _, (dr, dc), flip = settings
    kh, kw = w_shape[2], w_shape[3]
    for i in range(kh):
        for j in range(kw):
            ti, tj = (kh - 1 - i, kw - 1 - j) if flip else (i, j)
            rows = slice(ti * dr, ti * dr + sr * (out[0] - 1) + 1, sr)
            cols = slice(tj * dc, tj * dc + sc * (out[1] - 1) + 1, sc)
            yield i, j, rows, cols


def _out_hw(x_shape: Sequence[int], w_shape: Sequence[int], settings: Any) -> tuple[int, int]:
    stride, pad, dilation, _ = settings
    return tuple(  # type: ignore[return-value]
        conv_axis(STATIC, "explicit", pad[a], dilation[a], stride[a], x_shape[2 + a], w_shape[2 + a]).out
        for a in (0, 1)
    )


def _padded(x: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))


def conv_reference(x: np.ndarray, w: np.ndarray, *settings: Any) -> np.ndarray:
    """conv2d in numpy (see the module docstring)."""
    out = _out_hw(x.shape, w.shape, settings)
    xp = _padded(np.asarray(x), settings[1])
    y = np.zeros((x.shape[0], w.shape[0], *out), np.result_type(x, w))
    for i, j, rows, cols in _taps(w.shape, out, settings):
        y += np.einsum("nchw,oc->nohw", xp[:, :, rows, cols], w[:, :, i, j])
    return y


def conv_grad_input_reference(
    x_shape: Sequence[int], w: np.ndarray, g: np.ndarray, *settings: Any
) -> np.ndarray:
    """The gradient of conv2d wrt x: each tap's product scattered back into the padded input."""
    pad = settings[1]
    out = g.shape[2:]
    n, c, h, wd = x_shape
    gx = np.zeros((n, c, h + 2 * pad[0], wd + 2 * pad[1]), np.result_type(w, g))
    for i, j, rows, cols in _taps(w.shape, out, settings):
        gx[:, :, rows, cols] += np.einsum("nohw,oc->nchw", g, w[:, :, i, j])
    return gx[:, :, pad[0] : pad[0] + h, pad[1] : pad[1] + wd]


def conv_grad_filters_reference(
    x: np.ndarray, w_shape: Sequence[int], g: np.ndarray, *settings: Any
) -> np.ndarray:
    """The gradient of conv2d wrt w: each tap correlates the input slice with g."""
    out = g.shape[2:]
    xp = _padded(np.asarray(x), settings[1])
    gw = np.zeros(tuple(w_shape), np.result_type(x, g))
    for i, j, rows, cols in _taps(w_shape, out, settings):
        gw[:, :, i, j] = np.einsum("nohw,nchw->oc", g, xp[:, :, rows, cols])
    return gw
