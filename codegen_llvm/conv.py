"""Native code for tx.conv2d and its gradients (ir/ops/conv.py): im2col into OpenBLAS gemm.

Per image n of the batch, the input's C x H x W block is unfolded into the column
matrix `col` (K x P, K = C*kh*kw filter taps, P = out_rows*out_cols positions; row
(c, i, j) holds the input element each output position meets at tap (i, j), zero where
that falls in the padding; with `flip` tap (i, j) reads offset (kh-1-i, kw-1-j)), and

    forward:        y[n] (O x P)   = W (O x K) . col
    wrt the input:  col            = W^T . g[n],   then col is folded back (added) into dx[n]
    wrt the filters: dW (O x K)   += g[n] (O x P) . col^T

W is the filters packed C-contiguous (O x K: the filters' own layout), g[n] is packed per
image; the input is read through its strides (any layout). Padding comes from the
filters' run-time size for the "full" and "half" borders. The shape plan has checked,
before the call, that the filters fit and the channels agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from llvmlite import ir as ll

from ..ir import DType
from ..ir.ops.conv import Conv2D, Conv2DGradFilters, Conv2DGradInput
from .context import LoweringContext, lowering
from .control import counted_loop
from .gemm import Operand, emit_gemm, emit_pack, emit_zero, product
from .loops import ArrayRef
from .types import I64, load_element, register_type, store_element


@dataclass
class _Geometry:
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


def _geometry(
    b: ll.IRBuilder, op: Conv2D | Conv2DGradInput | Conv2DGradFilters, x: ArrayRef, w: ArrayRef
) -> _Geometry:
    pads, outs = [], []
    for a in (0, 1):
        kernel, dilation, stride = w.shape[2 + a], op.dilation[a], op.stride[a]
        span = b.mul(I64(dilation), b.sub(kernel, I64(1)))  # dilated filter - 1
        if op.border == "full":
            pad = span
        elif op.border == "half":
            pad = b.sdiv(b.add(span, I64(1)), I64(2))
        else:
            pad = I64(op.padding[a])
        room = b.sub(b.add(x.shape[2 + a], b.mul(pad, I64(2))), span)  # >= 1: checked by the plan
        pads.append(pad)
        outs.append(b.add(b.sdiv(b.sub(room, I64(1)), I64(stride)), I64(1)))
    return _Geometry(
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


def _image(b: ll.IRBuilder, array: ArrayRef, n: ll.Value) -> ArrayRef:
    """Entry n of the batch (axis 0) as a rank-3 array."""
    pointer = b.gep(array.pointer, [b.mul(n, array.strides[0])])
    return ArrayRef(array.dtype, pointer, array.shape[1:], array.strides[1:], array.static_shape[1:])


def _element_offset(b: ll.IRBuilder, index: ll.Value, itemsize: int) -> ll.Value:
    return b.mul(index, I64(itemsize))


def _floor_div(b: ll.IRBuilder, a: ll.Value, s: int) -> ll.Value:
    """floor(a / s) for s > 0 (sdiv truncates)."""
    negative = b.icmp_signed("<", a, I64(0))
    return b.sdiv(b.sub(a, b.select(negative, I64(s - 1), I64(0))), I64(s))


def _clamp(b: ll.IRBuilder, value: ll.Value, low: ll.Value, high: ll.Value) -> ll.Value:
    value = b.select(b.icmp_signed("<", value, low), low, value)
    return b.select(b.icmp_signed(">", value, high), high, value)


def _columns(b: ll.IRBuilder, g: _Geometry, offset: ll.Value) -> tuple[ll.Value, ll.Value]:
    """The output columns [lo, hi) whose input column `ow*stride + offset` is inside the input."""
    s = g.stride[1]
    lo = _clamp(b, b.neg(_floor_div(b, offset, s)), I64(0), g.out[1])  # ceil(-offset / s)
    hi = b.add(_floor_div(b, b.sub(b.sub(g.size[1], I64(1)), offset), s), I64(1))
    return lo, _clamp(b, hi, lo, g.out[1])


def _unfold(
    b: ll.IRBuilder, image: ArrayRef, col: ll.Value, row_length: ll.Value, g: _Geometry, to_col: bool
) -> None:
    """to_col: col = im2col(image) (zeros in the padding); else image += col2im(col). `col` is
    this image's first column of a matrix whose rows are `row_length` elements apart."""
    dtype, size = image.dtype, image.dtype.itemsize
    zero = ll.Constant(register_type(dtype), 0.0)
    kh, kw = g.kernel
    with counted_loop(b, g.channels, "im2col.c") as c:
        with counted_loop(b, kh, "im2col.i") as i:
            with counted_loop(b, kw, "im2col.j") as j:
                ti = b.sub(b.sub(kh, I64(1)), i) if g.flip else i
                tj = b.sub(b.sub(kw, I64(1)), j) if g.flip else j
                row_offset = b.sub(b.mul(ti, I64(g.dilation[0])), g.pad[0])
                col_offset = b.sub(b.mul(tj, I64(g.dilation[1])), g.pad[1])
                lo, hi = _columns(b, g, col_offset)
                tap = b.add(b.mul(b.add(b.mul(c, kh), i), kw), j)
                base = b.gep(col, [_element_offset(b, b.mul(tap, row_length), size)])
                channel = b.gep(image.pointer, [b.mul(c, image.strides[0])])
                with counted_loop(b, g.out[0], "im2col.oh") as oh:
                    row = b.add(b.mul(oh, I64(g.stride[0])), row_offset)
                    inside = b.and_(b.icmp_signed(">=", row, I64(0)), b.icmp_signed("<", row, g.size[0]))
                    target = b.gep(base, [_element_offset(b, b.mul(oh, g.out[1]), size)])
                    source = b.gep(channel, [b.mul(row, image.strides[1])])
                    step = b.mul(image.strides[2], I64(g.stride[1]))
                    first = b.mul(col_offset, image.strides[2])
                    with b.if_else(inside) as (then, otherwise):
                        with then:
                            if to_col:
                                _fill(b, dtype, target, I64(0), lo, zero)
                                _fill(b, dtype, target, hi, g.out[1], zero)
                            _copy(b, dtype, target, b.gep(source, [first]), step, (lo, hi), to_col)
                        with otherwise:
                            if to_col:
                                _fill(b, dtype, target, I64(0), g.out[1], zero)


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
    """target[k] = source[k*step] (to_col) or source[k*step] += target[k], for k in span."""
    with counted_loop(b, span[1], "im2col.copy", start=span[0]) as k:
        inner = b.gep(target, [_element_offset(b, k, dtype.itemsize)])
        outer = b.gep(source, [b.mul(k, step)])
        if to_col:
            store_element(b, dtype, load_element(b, dtype, outer), inner)
        else:
            total = b.fadd(load_element(b, dtype, outer), load_element(b, dtype, inner))
            store_element(b, dtype, total, outer)


# Images per gemm: a column matrix of about this many elements (8 MB in f32), so that one
# product covers many images (BLAS threads pay off and sync once per chunk, not per image).
CHUNK_ELEMENTS = 1 << 21


@dataclass
class _Chunks:
    """The batch in chunks of `size` images; per chunk, `first` and `count` (set in the loop)."""

    size: ll.Value
    total: ll.Value
    first: ll.Value = I64(0)
    count: ll.Value = I64(0)


def _chunks(b: ll.IRBuilder, batch: ll.Value, g: _Geometry) -> _Chunks:
    per_image = _at_least(b, b.mul(g.taps(b), g.positions(b)), 1)
    size = _clamp(b, b.sdiv(I64(CHUNK_ELEMENTS), per_image), I64(1), _at_least(b, batch, 1))
    return _Chunks(size, batch)


def _at_least(b: ll.IRBuilder, value: ll.Value, low: int) -> ll.Value:
    return b.select(b.icmp_signed("<", value, I64(low)), I64(low), value)


@contextmanager
def _each_chunk(b: ll.IRBuilder, chunks: _Chunks) -> Iterator[None]:
    """Loop over the chunks, setting `chunks.first` and `chunks.count`."""
    number = b.sdiv(b.add(chunks.total, b.sub(chunks.size, I64(1))), chunks.size)
    with counted_loop(b, number, "conv.chunk") as index:
        chunks.first = b.mul(index, chunks.size)
        rest = b.sub(chunks.total, chunks.first)
        chunks.count = b.select(b.icmp_signed("<", rest, chunks.size), rest, chunks.size)
        yield


@contextmanager
def _each_image(b: ll.IRBuilder, chunks: _Chunks) -> Iterator[tuple[ll.Value, ll.Value]]:
    """(index in the chunk, index in the batch) for each image of the current chunk."""
    with counted_loop(b, chunks.count, "conv.image") as k:
        yield k, b.add(chunks.first, k)


def _block(
    b: ll.IRBuilder, matrix: ll.Value, array: ArrayRef, k: ll.Value, g: _Geometry, row: ll.Value
) -> ArrayRef:
    """Image k's (O x rows x cols) block of an (O x chunk*P) matrix, as an array."""
    size = I64(array.dtype.itemsize)
    pointer = b.gep(matrix, [b.mul(b.mul(k, g.positions(b)), size)])
    strides = [b.mul(row, size), b.mul(g.out[1], size), size]
    return ArrayRef(array.dtype, pointer, [g.filters, *g.out], strides, (None, None, None))


def _scratch(ctx: LoweringContext, op: Conv2D, g: _Geometry, chunks: _Chunks, rows: ll.Value) -> ll.Value:
    return ctx.allocate(op.results[0].type.dtype, [rows, chunks.size, g.positions(ctx.builder)])


@lowering(Conv2D)
def _conv2d(ctx: LoweringContext, op: Conv2D) -> None:
    b = ctx.builder
    x, w = (ctx.arrays[v] for v in op.operands)
    g = _geometry(b, op, x, w)
    ctx.result_buffers(op, [x.shape[0], g.filters, *g.out])
    chunks = _chunks(b, x.shape[0], g)
    col, product_ = _scratch(ctx, op, g, chunks, g.taps(b)), _scratch(ctx, op, g, chunks, g.filters)
    packed = ctx.allocate(x.dtype, [g.filters, g.taps(b)])
    ctx.defer(_forward, b, x, w, ctx.arrays[op.results[0]], g, chunks, (col, product_, packed))


def _forward(
    b: ll.IRBuilder,
    x: ArrayRef,
    w: ArrayRef,
    y: ArrayRef,
    g: _Geometry,
    chunks: _Chunks,
    scratch: tuple[ll.Value, ll.Value, ll.Value],
) -> None:
    """Per chunk: col = im2col of its images, Y = W . col, each image's block of Y into y."""
    col, product_, packed = scratch
    size = I64(x.dtype.itemsize)
    emit_pack(b, w, packed)
    with _each_chunk(b, chunks):
        row = b.mul(chunks.count, g.positions(b))
        with _each_image(b, chunks) as (k, n):
            first_column = b.gep(col, [b.mul(b.mul(k, g.positions(b)), size)])
            _unfold(b, _image(b, x, n), first_column, row, g, to_col=True)
        mnk = (g.filters, row, g.taps(b))
        emit_gemm(b, x.dtype, Operand(packed, False), Operand(col, False), product_, mnk, accumulate=False)
        with _each_image(b, chunks) as (k, n):
            emit_pack(b, _block(b, product_, y, k, g, row), _image(b, y, n).pointer)


@lowering(Conv2DGradInput)
def _conv2d_grad_input(ctx: LoweringContext, op: Conv2DGradInput) -> None:
    b = ctx.builder
    x, w, gy = (ctx.arrays[v] for v in op.operands)
    g = _geometry(b, op, x, w)
    ctx.result_buffers(op, list(x.shape))
    chunks = _chunks(b, x.shape[0], g)
    col, packed_g = _scratch(ctx, op, g, chunks, g.taps(b)), _scratch(ctx, op, g, chunks, g.filters)
    packed = ctx.allocate(x.dtype, [g.filters, g.taps(b)])
    ctx.defer(_backward_input, b, w, gy, ctx.arrays[op.results[0]], g, chunks, (col, packed, packed_g))


def _backward_input(
    b: ll.IRBuilder,
    w: ArrayRef,
    gy: ArrayRef,
    dx: ArrayRef,
    g: _Geometry,
    chunks: _Chunks,
    scratch: tuple[ll.Value, ll.Value, ll.Value],
) -> None:
    """Per chunk: G = its images' output gradients side by side, col = W^T . G, col2im into dx."""
    col, packed, packed_g = scratch
    size = I64(dx.dtype.itemsize)
    emit_zero(b, dx.dtype, dx.pointer, product(b, list(dx.shape)))
    emit_pack(b, w, packed)
    with _each_chunk(b, chunks):
        row = b.mul(chunks.count, g.positions(b))
        _gather_gradients(b, gy, packed_g, g, chunks, row)
        mnk = (g.taps(b), row, g.filters)
        emit_gemm(b, dx.dtype, Operand(packed, True), Operand(packed_g, False), col, mnk, accumulate=False)
        with _each_image(b, chunks) as (k, n):
            first_column = b.gep(col, [b.mul(b.mul(k, g.positions(b)), size)])
            _unfold(b, _image(b, dx, n), first_column, row, g, to_col=False)


def _gather_gradients(
    b: ll.IRBuilder, gy: ArrayRef, packed_g: ll.Value, g: _Geometry, chunks: _Chunks, row: ll.Value
) -> None:
    """G (O x count*P): image k's output gradient in columns k*P to (k+1)*P."""
    with _each_image(b, chunks) as (k, n):
        target = _block(b, packed_g, gy, k, g, row)
        emit_pack(b, _image(b, gy, n), target.pointer, target.strides)


@lowering(Conv2DGradFilters)
def _conv2d_grad_filters(ctx: LoweringContext, op: Conv2DGradFilters) -> None:
    b = ctx.builder
    x, w, gy = (ctx.arrays[v] for v in op.operands)
    g = _geometry(b, op, x, w)
    ctx.result_buffers(op, list(w.shape))
    chunks = _chunks(b, x.shape[0], g)
    col, packed_g = _scratch(ctx, op, g, chunks, g.taps(b)), _scratch(ctx, op, g, chunks, g.filters)
    ctx.defer(_backward_filters, b, x, gy, ctx.arrays[op.results[0]], g, chunks, (col, packed_g))


def _backward_filters(
    b: ll.IRBuilder,
    x: ArrayRef,
    gy: ArrayRef,
    dw: ArrayRef,
    g: _Geometry,
    chunks: _Chunks,
    scratch: tuple[ll.Value, ll.Value],
) -> None:
    """Per chunk: col = im2col of its images, G as for the input, dW += G . col^T."""
    col, packed_g = scratch
    size = I64(x.dtype.itemsize)
    emit_zero(b, dw.dtype, dw.pointer, product(b, list(dw.shape)))
    with _each_chunk(b, chunks):
        row = b.mul(chunks.count, g.positions(b))
        with _each_image(b, chunks) as (k, n):
            first_column = b.gep(col, [b.mul(b.mul(k, g.positions(b)), size)])
            _unfold(b, _image(b, x, n), first_column, row, g, to_col=True)
        _gather_gradients(b, gy, packed_g, g, chunks, row)
        mnk = (g.filters, g.taps(b), row)
        emit_gemm(b, dw.dtype, Operand(packed_g, False), Operand(col, True), dw.pointer, mnk, accumulate=True)
