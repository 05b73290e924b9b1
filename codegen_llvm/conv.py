"""Native code for tx.conv2d and its gradients (ir/ops/conv.py).

Two paths, chosen at run time: images with at least one register tile's width of output
positions go image by image through conv_tiles.py (tc's own tiles, the batch spread over
the cores); the others, described here, through im2col into OpenBLAS gemm.

Per image n of the batch, the input's C x H x W block is unfolded into the column
matrix `col` (K x P, K = C*kh*kw filter taps, P = out_rows*out_cols positions; row
(c, i, j) holds the input element each output position meets at tap (i, j), zero where
that falls in the padding; with `flip` tap (i, j) reads offset (kh-1-i, kw-1-j)), and

    forward:        y[n] (O x P)   = W (O x K) . col
    wrt the input:  col            = W^T . g[n],   then col is folded back (added) into dx[n]
    wrt the filters: dW (O x K)   += g[n] (O x P) . col^T

W is the filters packed C-contiguous (O x K: the filters' own layout), g[n] is packed per
image; the input is read through its strides (any layout). The batch goes in chunks of
images side by side (one product per chunk); im2col and col2im are codegen_llvm/im2col.py's,
and the per-image copies move contiguous planes in vectors (codegen_llvm/conv_runs.py). Padding comes from the
filters' run-time size for the "full" and "half" borders. The shape plan has checked,
before the call, that the filters fit and the channels agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from ..ir import Operation
from ..ir.ops.conv import Conv2D, Conv2DGradFilters, Conv2DGradInput
from ..ir.ops.kernel_conv import KernelConv2D
from . import conv_tiles
from . import llvm_ir as ll
from .context import LoweringContext, contiguous_strides, lowering
from .control import counted_loop
from .conv_runs import copy_planes
from .conv_tiles import Scratch
from .gemm import Operand, emit_gemm, emit_pack, emit_zero, product
from .im2col import Geometry, clamp, geometry, image_of, unfold
from .kernel_body import kernel_body
from .loops import emit_elementwise_loop
from .nest import ArrayRef
from .types import I64

# Images per gemm: a column matrix of about this many elements (8 MB in f32), so that one
# product covers many images (BLAS threads pay off and sync once per chunk, not per image;
# 2^17 to 2^21 measured alike for LeNet's layers).
CHUNK_ELEMENTS = 1 << 21

# (arrays, pointers, row length) a loop over the images of a chunk reads
_Job = tuple[list[ArrayRef], list[ll.Value], ll.Value]


class _Chunks:
    """The batch in chunks of `size` images; per chunk, `first` and `count` (set in the loop)."""

    def __init__(self, size: ll.Value, total: ll.Value, tiled: ll.Value) -> None:
        self.size, self.total = size, total
        self.tiled = tiled  # i1: conv_tiles.py serves the call instead
        self.first: ll.Value = I64(0)
        self.count: ll.Value = I64(0)


def _chunks(b: ll.IRBuilder, batch: ll.Value, g: Geometry, tiled: ll.Value) -> _Chunks:
    per_image = _at_least(b, b.mul(g.taps(b), g.positions(b)), 1)
    size = clamp(b, b.sdiv(I64(CHUNK_ELEMENTS), per_image), I64(1), _at_least(b, batch, 1))
    return _Chunks(size, batch, tiled)


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


def _block(
    b: ll.IRBuilder, matrix: ll.Value, array: ArrayRef, k: ll.Value, g: Geometry, row: ll.Value
) -> ArrayRef:
    """Image k's (O x rows x cols) block of an (O x chunk*P) matrix, as an array."""
    size = I64(array.dtype.itemsize)
    pointer = b.gep(matrix, [b.mul(b.mul(k, g.positions(b)), size)])
    strides = [b.mul(row, size), b.mul(g.out[1], size), size]
    return ArrayRef(array.dtype, pointer, [g.filters, *g.out], strides, (None, None, None))


def _scratch(ctx: LoweringContext, op: Operation, g: Geometry, chunks: _Chunks, rows: ll.Value) -> ll.Value:
    """A chunk's matrix of `rows` rows (none when the tiles serve the call)."""
    b = ctx.builder
    count = b.select(chunks.tiled, I64(0), chunks.size)
    return ctx.allocate(op.results[0].type.dtype, [rows, count, g.positions(b)])


def _tiles_scratch(ctx: LoweringContext, op: Operation, which: str, g: Geometry, batch: ll.Value) -> Scratch:
    """conv_tiles.py's scratch for `which` op: a region per slice (none when the chunked path
    serves the call)."""
    b = ctx.builder
    dtype = op.results[0].type.dtype
    parts = conv_tiles.parts(b, which, dtype, g)
    tiled = conv_tiles.suits(b, dtype, g)
    regions = b.select(tiled, conv_tiles.slices(b, batch, parts), I64(0))
    return Scratch(ctx.allocate(dtype, [regions, conv_tiles.sum_of(b, parts)]), parts, dtype, tiled)


def _packed_tiles(ctx: LoweringContext, scratch: Scratch, m: ll.Value, k: ll.Value) -> ll.Value:
    b = ctx.builder
    return ctx.allocate(scratch.dtype, [b.select(scratch.tiled, conv_tiles.packed_size(b, m, k), I64(0))])


def _either(b: ll.IRBuilder, tiled: ll.Value, tiles: Callable[[], None], chunked: Callable[[], None]) -> None:
    with b.if_else(tiled) as (by_tiles, by_chunks):
        with by_tiles:
            tiles()
        with by_chunks:
            chunked()


@lowering(Conv2D)
def _conv2d(ctx: LoweringContext, op: Conv2D) -> None:
    b = ctx.builder
    x, w = (ctx.arrays[v] for v in op.operands)
    g = geometry(b, op, x, w)
    ctx.result_buffers(op, [x.shape[0], g.filters, *g.out])
    y = ctx.arrays[op.results[0]]
    tiles = _tiles_scratch(ctx, op, "forward", g, x.shape[0])
    chunks = _chunks(b, x.shape[0], g, tiles.tiled)
    col, product_ = _scratch(ctx, op, g, chunks, g.taps(b)), _scratch(ctx, op, g, chunks, g.filters)
    packed = ctx.allocate(x.dtype, [g.filters, g.taps(b)])
    buffers = (tiles, packed, _packed_tiles(ctx, tiles, g.filters, g.taps(b)))
    ctx.defer(
        _either,
        b,
        tiles.tiled,
        partial(conv_tiles.forward, b, x, w, y, g, buffers),
        partial(_forward, b, x, w, y, g, chunks, (col, product_, packed)),
    )


@lowering(KernelConv2D)
def _kernel_conv2d(ctx: LoweringContext, op: KernelConv2D) -> None:
    """A convolution and the kernel that consumes it: through the tiles, the kernel's body
    runs on each image's convolution in the slice's plane (still in cache) and writes the
    image's result; through the chunked path, on the whole convolution afterwards."""
    b = ctx.builder
    x, w = (ctx.arrays[v] for v in op.operands[:2])
    g = geometry(b, op, x, w)
    extent = [x.shape[0], g.filters, *g.out]
    ctx.result_buffers(op, extent)
    result = ctx.arrays[op.results[0]]
    tiles = _tiles_scratch(ctx, op, "fused", g, x.shape[0])
    chunks = _chunks(b, x.shape[0], g, tiles.tiled)
    col, product_ = _scratch(ctx, op, g, chunks, g.taps(b)), _scratch(ctx, op, g, chunks, g.filters)
    packed = ctx.allocate(x.dtype, [g.filters, g.taps(b)])
    whole = ctx.allocate(x.dtype, [b.select(tiles.tiled, I64(0), product(b, extent))])
    conv = ArrayRef(x.dtype, whole, extent, contiguous_strides(b, extent, x.dtype.itemsize), (None,) * 4)
    body = kernel_body(op, ctx.math)
    others = [ctx.arrays[v] for v in op.operands[2:]]
    static = op.results[0].type.shape
    outputs = [(r.type.dtype, ctx.arrays[r].pointer) for r in op.results]

    def epilogue(n: ll.Value, plane: ll.Value) -> None:
        image = ArrayRef(x.dtype, plane, extent[1:], conv.strides[1:], (None,) * 3)
        operands = [image, *(_image_of_operand(b, a, n) for a in others)]
        target = [(dtype, image_of(b, result, n).pointer) for dtype, _ in outputs]
        emit_elementwise_loop(
            b, ctx.unique_name("conv.epilogue"), extent[1:], static[1:], operands, target, body
        )

    def chunked() -> None:
        _forward(b, x, w, conv, g, chunks, (col, product_, packed))
        emit_elementwise_loop(
            b, ctx.unique_name("conv.kernel"), extent, static, [conv, *others], outputs, body
        )

    buffers = (tiles, packed, _packed_tiles(ctx, tiles, g.filters, g.taps(b)))
    ctx.defer(
        _either, b, tiles.tiled, partial(conv_tiles.forward, b, x, w, result, g, buffers, epilogue), chunked
    )


def _image_of_operand(b: ll.IRBuilder, array: ArrayRef, n: ll.Value) -> ArrayRef:
    """Image n's part of a kernel.conv2d operand, right-aligned against N x O x rows x cols:
    one without the batch axis is the same for every image, as is one with a static 1 there."""
    if len(array.shape) < 4:
        return array
    if array.static_shape[0] == 1:
        return ArrayRef(
            array.dtype, array.pointer, array.shape[1:], array.strides[1:], array.static_shape[1:]
        )
    return image_of(b, array, n)


def _forward(
    b: ll.IRBuilder,
    x: ArrayRef,
    w: ArrayRef,
    y: ArrayRef,
    g: Geometry,
    chunks: _Chunks,
    scratch: tuple[ll.Value, ll.Value, ll.Value],
) -> None:
    """Per chunk: col = im2col of its images, Y = W . col, each image's block of Y into y."""
    col, product_, packed = scratch
    emit_pack(b, w, packed)
    with _each_chunk(b, chunks):
        row = b.mul(chunks.count, g.positions(b))
        _images(b, "conv.im2col", chunks, g, ([x], [col], row), _im2col)
        mnk = (g.filters, row, g.taps(b))
        emit_gemm(b, x.dtype, Operand(packed, False), Operand(col, False), product_, mnk, accumulate=False)
        _images(b, "conv.output", chunks, g, ([y], [product_], row), _scatter_output)


def _im2col(b: ll.IRBuilder, k: ll.Value, n: ll.Value, job: _Job, g: Geometry) -> None:
    """Image n's columns of col (columns k*P to (k+1)*P); gradients into G beside, if given."""
    arrays, pointers, row = job
    first_column = b.gep(pointers[0], [b.mul(b.mul(k, g.positions(b)), I64(arrays[0].dtype.itemsize))])
    unfold(b, image_of(b, arrays[0], n), first_column, row, g, to_col=True)
    if len(arrays) > 1:
        _gather_gradient(b, k, n, ([arrays[1]], [pointers[1]], row), g)


def _scatter_output(b: ll.IRBuilder, k: ll.Value, n: ll.Value, job: _Job, g: Geometry) -> None:
    (y,), (product_,), row = job
    image = image_of(b, y, n)
    copy_planes(b, _block(b, product_, y, k, g, row), image.pointer, image.strides)


def _gather_gradient(b: ll.IRBuilder, k: ll.Value, n: ll.Value, job: _Job, g: Geometry) -> None:
    """G (O x count*P): image n's output gradient in columns k*P to (k+1)*P."""
    (gy,), (packed_g,), row = job
    target = _block(b, packed_g, gy, k, g, row)
    copy_planes(b, image_of(b, gy, n), target.pointer, target.strides)


def _col2im(b: ll.IRBuilder, k: ll.Value, n: ll.Value, job: _Job, g: Geometry) -> None:
    """dx[n] = col2im of its columns: cleared just before (dx is a fresh contiguous result),
    so the sums start from zeros still in the cache."""
    (dx,), (col,), row = job
    image = image_of(b, dx, n)
    emit_zero(b, dx.dtype, image.pointer, product(b, list(image.shape)))
    first_column = b.gep(col, [b.mul(b.mul(k, g.positions(b)), I64(dx.dtype.itemsize))])
    unfold(b, image, first_column, row, g, to_col=False)


def _images(
    b: ll.IRBuilder, name: str, chunks: _Chunks, g: Geometry, job: _Job, emit: Callable[..., None]
) -> None:
    """emit(builder, k, n, job, geometry) for each image of the current chunk (k in the chunk,
    n in the batch). On this thread: spread over the cores (as pooling is), these loops ran
    beside the BLAS threads still spinning after the chunk's product, and the step slowed."""
    with counted_loop(b, chunks.count, f"{name}.image") as k:
        emit(b, k, b.add(chunks.first, k), job, g)


@lowering(Conv2DGradInput)
def _conv2d_grad_input(ctx: LoweringContext, op: Conv2DGradInput) -> None:
    b = ctx.builder
    x, w, gy = (ctx.arrays[v] for v in op.operands)
    g = geometry(b, op, x, w)
    ctx.result_buffers(op, list(x.shape))
    dx = ctx.arrays[op.results[0]]
    tiles = _tiles_scratch(ctx, op, "input", g, x.shape[0])
    chunks = _chunks(b, x.shape[0], g, tiles.tiled)
    col, packed_g = _scratch(ctx, op, g, chunks, g.taps(b)), _scratch(ctx, op, g, chunks, g.filters)
    packed = ctx.allocate(x.dtype, [g.filters, g.taps(b)])
    buffers = (tiles, packed, _packed_tiles(ctx, tiles, g.taps(b), g.filters))
    ctx.defer(
        _either,
        b,
        tiles.tiled,
        partial(conv_tiles.backward_input, b, w, gy, dx, g, buffers),
        partial(_backward_input, b, w, gy, dx, g, chunks, (col, packed, packed_g)),
    )


def _backward_input(
    b: ll.IRBuilder,
    w: ArrayRef,
    gy: ArrayRef,
    dx: ArrayRef,
    g: Geometry,
    chunks: _Chunks,
    scratch: tuple[ll.Value, ll.Value, ll.Value],
) -> None:
    """Per chunk: G = its images' output gradients side by side, col = W^T . G, col2im into dx."""
    col, packed, packed_g = scratch
    emit_pack(b, w, packed)
    with _each_chunk(b, chunks):
        row = b.mul(chunks.count, g.positions(b))
        _images(b, "conv.gather", chunks, g, ([gy], [packed_g], row), _gather_gradient)
        mnk = (g.taps(b), row, g.filters)
        emit_gemm(b, dx.dtype, Operand(packed, True), Operand(packed_g, False), col, mnk, accumulate=False)
        _images(b, "conv.col2im", chunks, g, ([dx], [col], row), _col2im)


@lowering(Conv2DGradFilters)
def _conv2d_grad_filters(ctx: LoweringContext, op: Conv2DGradFilters) -> None:
    b = ctx.builder
    x, w, gy = (ctx.arrays[v] for v in op.operands)
    g = geometry(b, op, x, w)
    ctx.result_buffers(op, list(w.shape))
    dw = ctx.arrays[op.results[0]]
    tiles = _tiles_scratch(ctx, op, "filters", g, x.shape[0])
    chunks = _chunks(b, x.shape[0], g, tiles.tiled)
    col, packed_g = _scratch(ctx, op, g, chunks, g.taps(b)), _scratch(ctx, op, g, chunks, g.filters)
    ctx.defer(
        _either,
        b,
        tiles.tiled,
        partial(conv_tiles.backward_filters, b, x, gy, dw, g, tiles),
        partial(_backward_filters, b, x, gy, dw, g, chunks, (col, packed_g)),
    )


def _backward_filters(
    b: ll.IRBuilder,
    x: ArrayRef,
    gy: ArrayRef,
    dw: ArrayRef,
    g: Geometry,
    chunks: _Chunks,
    scratch: tuple[ll.Value, ll.Value],
) -> None:
    """Per chunk: col = im2col of its images, G as for the input, dW += G . col^T."""
    col, packed_g = scratch
    emit_zero(b, dw.dtype, dw.pointer, product(b, list(dw.shape)))
    with _each_chunk(b, chunks):
        row = b.mul(chunks.count, g.positions(b))
        _images(b, "conv.im2col", chunks, g, ([x, gy], [col, packed_g], row), _im2col)
        mnk = (g.filters, g.taps(b), row)
        emit_gemm(b, dw.dtype, Operand(packed_g, False), Operand(col, True), dw.pointer, mnk, accumulate=True)
