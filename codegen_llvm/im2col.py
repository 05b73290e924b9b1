"""im2col and col2im for the convolution lowerings (codegen_llvm/conv.py), one image at a time.

`unfold` writes image n's C x H x W input as its columns of the column matrix (K x P per
image, K = C*kh*kw filter taps, P = out_rows*out_cols positions: row (c, i, j) holds the
input element each output position meets at tap (i, j), zero where that falls in the
padding; with `flip` tap (i, j) reads offset (kh-1-i, kw-1-j)), or adds its columns back
into the image (col2im). A tap whose rows all lie inside the input with adjacent columns
moves whole rows as vectors (codegen_llvm/conv_runs.py), any other row by row, element by
element through the strides where the columns are not adjacent.
"""

from __future__ import annotations

from typing import NamedTuple

from ..ir import DType
from ..ir.ops.conv import Conv2D, Conv2DGradFilters, Conv2DGradInput, conv_axis
from . import llvm_ir as ll
from .control import counted_loop
from .conv_runs import emit_add_run, emit_copy_run, emit_copy_vectors, emit_fill_run, lanes
from .gemm import product
from .nest import ArrayRef
from .terms import LLVMSizes
from .types import I64, load_element, register_type, store_element


class Geometry(NamedTuple):
    """Sizes of one convolution: input (C, H, W), filters (O, kh, kw), output (rows, cols)."""

    channels: ll.Value
    size: tuple[ll.Value, ll.Value]
    filters: ll.Value
    kernel: tuple[ll.Value, ll.Value]
    out: tuple[ll.Value, ll.Value]
    pad: tuple[ll.Value, ll.Value]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    flip: bool

    def taps(self, b: ll.IRBuilder) -> ll.Value:
        return product(b, [self.channels, *self.kernel])

    def positions(self, b: ll.IRBuilder) -> ll.Value:
        return product(b, list(self.out))


def geometry(
    b: ll.IRBuilder, op: Conv2D | Conv2DGradInput | Conv2DGradFilters, x: ArrayRef, w: ArrayRef
) -> Geometry:
    pads, outs = [], []
    for a in (0, 1):
        # the plan has checked that the filters fit (room >= 1)
        axis = conv_axis(
            LLVMSizes(b),
            op.border,
            op.padding[a],
            op.dilation[a],
            op.stride[a],
            x.shape[2 + a],
            w.shape[2 + a],
        )
        pads.append(axis.pad)
        outs.append(axis.out)
    return Geometry(
        x.shape[1],
        (x.shape[2], x.shape[3]),
        w.shape[0],
        (w.shape[2], w.shape[3]),
        (outs[0], outs[1]),
        (pads[0], pads[1]),
        op.stride,
        op.dilation,
        op.flip,
    )


def image_of(b: ll.IRBuilder, array: ArrayRef, n: ll.Value) -> ArrayRef:
    """Entry n of the batch (axis 0) as a rank-3 array."""
    pointer = b.gep(array.pointer, [b.mul(n, array.strides[0])])
    return ArrayRef(array.dtype, pointer, array.shape[1:], array.strides[1:], array.static_shape[1:])


def _element_offset(b: ll.IRBuilder, index: ll.Value, itemsize: int) -> ll.Value:
    return b.mul(index, I64(itemsize))


def _floor_div(b: ll.IRBuilder, a: ll.Value, s: int) -> ll.Value:
    """floor(a / s) for s > 0 (sdiv truncates)."""
    negative = b.icmp_signed("<", a, I64(0))
    return b.sdiv(b.sub(a, b.select(negative, I64(s - 1), I64(0))), I64(s))


def clamp(b: ll.IRBuilder, value: ll.Value, low: ll.Value, high: ll.Value) -> ll.Value:
    value = b.select(b.icmp_signed("<", value, low), low, value)
    return b.select(b.icmp_signed(">", value, high), high, value)


def _columns(b: ll.IRBuilder, g: Geometry, offset: ll.Value) -> tuple[ll.Value, ll.Value]:
    """The output columns [lo, hi) whose input column `ow*stride + offset` is inside the input."""
    s = g.stride[1]
    lo = clamp(b, b.neg(_floor_div(b, offset, s)), I64(0), g.out[1])  # ceil(-offset / s)
    hi = b.add(_floor_div(b, b.sub(b.sub(g.size[1], I64(1)), offset), s), I64(1))
    return lo, clamp(b, hi, lo, g.out[1])


def unfold(
    b: ll.IRBuilder, image: ArrayRef, col: ll.Value, row_length: ll.Value, g: Geometry, to_col: bool
) -> None:
    """to_col: col = im2col(image) (zeros in the padding); else image += col2im(col). `col` is
    this image's first column of a matrix whose rows are `row_length` elements apart."""
    size = image.dtype.itemsize
    kh, kw = g.kernel
    step = b.mul(image.strides[2], I64(g.stride[1]))  # bytes between the columns one row reads
    with counted_loop(b, g.channels, "im2col.c") as c:
        with counted_loop(b, kh, "im2col.i") as i:
            with counted_loop(b, kw, "im2col.j") as j:
                ti = b.sub(b.sub(kh, I64(1)), i) if g.flip else i
                tj = b.sub(b.sub(kw, I64(1)), j) if g.flip else j
                row_offset = b.sub(b.mul(ti, I64(g.dilation[0])), g.pad[0])
                col_offset = b.sub(b.mul(tj, I64(g.dilation[1])), g.pad[1])
                span = _columns(b, g, col_offset)
                tap = b.add(b.mul(b.add(b.mul(c, kh), i), kw), j)
                base = b.gep(col, [_element_offset(b, b.mul(tap, row_length), size)])
                channel = b.gep(image.pointer, [b.mul(c, image.strides[0])])
                first = b.gep(channel, [b.mul(col_offset, image.strides[2])])
                _tap(b, image, g, (row_offset, base, first, step), span, to_col)


def _tap(
    b: ll.IRBuilder,
    image: ArrayRef,
    g: Geometry,
    where: tuple[ll.Value, ll.Value, ll.Value, ll.Value],
    span: tuple[ll.Value, ll.Value],
    to_col: bool,
) -> None:
    """One tap's col row (`base`) against the input (output row 0, col 0 at `first` plus
    `row_offset` rows): whole rows of vectors when all of them lie inside the input with
    adjacent columns and are at least a vector long, else row by row."""
    row_offset, base, first, step = where
    dtype, size = image.dtype, image.dtype.itemsize
    last = b.add(row_offset, b.mul(b.sub(g.out[0], I64(1)), I64(g.stride[0])))
    conditions = [
        b.icmp_signed(">=", row_offset, I64(0)),
        b.icmp_signed("<", last, g.size[0]),
        b.icmp_signed("==", span[0], I64(0)),
        b.icmp_signed("==", span[1], g.out[1]),
        b.icmp_signed("==", step, I64(size)),
        b.icmp_signed(">=", g.out[1], I64(lanes(dtype))),
    ]
    whole = conditions[0]
    for condition in conditions[1:]:
        whole = b.and_(whole, condition)
    with b.if_else(whole) as (vectors, rows):
        with vectors:
            with counted_loop(b, g.out[0], "im2col.whole") as oh:
                row = b.add(b.mul(oh, I64(g.stride[0])), row_offset)
                target = b.gep(base, [_element_offset(b, b.mul(oh, g.out[1]), size)])
                source = b.gep(first, [b.mul(row, image.strides[1])])
                if to_col:
                    emit_copy_vectors(b, dtype, target, source, g.out[1])
                else:
                    emit_add_run(b, dtype, source, target, g.out[1])
        with rows:
            with counted_loop(b, g.out[0], "im2col.oh") as oh:
                row = b.add(b.mul(oh, I64(g.stride[0])), row_offset)
                target = b.gep(base, [_element_offset(b, b.mul(oh, g.out[1]), size)])
                source = b.gep(first, [b.mul(row, image.strides[1])])
                _row(b, image, g, (row, target, source, step), span, to_col)


def _row(
    b: ll.IRBuilder,
    image: ArrayRef,
    g: Geometry,
    where: tuple[ll.Value, ll.Value, ll.Value, ll.Value],
    span: tuple[ll.Value, ll.Value],
    to_col: bool,
) -> None:
    """One output row of one tap: the col row at `target` against the input row whose
    output column 0 is at `source` (`step` bytes per output column); `row` may be outside."""
    row, target, source, step = where
    dtype = image.dtype
    zero = ll.Constant(register_type(dtype), 0.0)
    inside = b.and_(b.icmp_signed(">=", row, I64(0)), b.icmp_signed("<", row, g.size[0]))
    with b.if_else(inside) as (then, otherwise):
        with then:
            if to_col:
                _fill(b, dtype, target, I64(0), span[0], zero)
                _fill(b, dtype, target, span[1], g.out[1], zero)
            _copy(b, dtype, target, source, step, span, to_col)
        with otherwise:
            if to_col:
                emit_fill_run(b, dtype, target, g.out[1], zero)


def _fill(
    b: ll.IRBuilder, dtype: DType, target: ll.Value, start: ll.Value, stop: ll.Value, value: ll.Value
) -> None:
    with counted_loop(b, stop, "im2col.fill", start=start) as k:
        store_element(b, dtype, value, b.gep(target, [_element_offset(b, k, dtype.itemsize)]))


def _copy(
    b: ll.IRBuilder,
    dtype: DType,
    target: ll.Value,
    source: ll.Value,
    step: ll.Value,
    span: tuple[ll.Value, ll.Value],
    to_col: bool,
) -> None:
    """target[k] = source[k*step] (to_col) or source[k*step] += target[k], for k in span;
    in vectors when the source's columns are adjacent."""
    size = dtype.itemsize
    with b.if_else(b.icmp_signed("==", step, I64(size))) as (adjacent, strided):
        with adjacent:
            inner = b.gep(target, [_element_offset(b, span[0], size)])
            outer = b.gep(source, [_element_offset(b, span[0], size)])
            count = b.sub(span[1], span[0])
            if to_col:
                emit_copy_run(b, dtype, inner, outer, count)
            else:
                emit_add_run(b, dtype, outer, inner, count)
        with strided:
            with counted_loop(b, span[1], "im2col.copy", start=span[0]) as k:
                inner = b.gep(target, [_element_offset(b, k, size)])
                outer = b.gep(source, [b.mul(k, step)])
                if to_col:
                    store_element(b, dtype, load_element(b, dtype, outer), inner)
                else:
                    total = b.fadd(load_element(b, dtype, outer), load_element(b, dtype, inner))
                    store_element(b, dtype, total, outer)
