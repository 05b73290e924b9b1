"""Convolutions image by image in tc's register tiles (small_gemm.py's tc_tiles), for images
with at least one tile's width (NR) of output positions; conv.py chooses this path there.

Per image n, with col = im2col(x[n]) (K x P: K = C*kh*kw taps, P output positions; im2col.py):

    forward:         y[n] (O x P)  = W (O x K) . col
    wrt the input:   col           = W^T (K x O) . g[n] (O x P),  then col2im added into dx[n]
    wrt the filters: D (O x K)    += g[n] (O x P) . col^T (P x K)

col is about L2's size (500 x 64 floats in LeNet's second layer), so the tiles read what
im2col has just written from L2. The chunked path (conv.py: many images side by side, one
BLAS product) writes megabytes of columns for BLAS to read back from memory and pack again,
and does its im2col on one core while BLAS's threads spin: measured on LeNet's second layer
(2-core Xeon), a forward pass of 35-55 ms there, most of it outside the product.

The batch is cut into at most SLICES slices of whole images, spread over the cores
(tc_parallel_units); each slice has its own scratch, and for the filters' gradient its own
partial sum D, zeroed when the slice starts; dW is the sum of the slices' D in slice order.
W (and W^T) are packed for the tiles once per call, g[n] once per image for the filters'
gradient with its rows padded to a whole tile (zeros) and col^T's columns to a whole NR, so
the accumulating tiles never overlap. Each result element is computed by the same
instructions whatever the thread count, so results do not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ..ir import DType
from . import llvm_ir as ll
from .control import counted_loop
from .conv_runs import copy_planes, emit_add_run
from .gemm import at_least_1, emit_pack, emit_zero, product
from .im2col import Geometry, image_of, unfold
from .nest import ArrayRef
from .outline import outlined_job
from .parallel import thread_count
from .register_tile import lanes, tile_columns, tile_rows
from .small_gemm import SMALL_ROWS, pack_rows
from .support import library_function
from .transpose import emit_transpose
from .types import I1, I8_PTR, I64

# Slices of the batch: enough for the cores to share the work evenly, few enough that the
# filters' gradient adds few partial sums.
SLICES = 16
# Elements of scratch for all slices together (16 MB of float32): images of many taps and
# positions get fewer slices rather than gigabytes of scratch (LeNet's layers use 1-2M).
SCRATCH_ELEMENTS = 1 << 22


class Scratch(NamedTuple):
    """One buffer of a region per slice, each region cut into parts of the given element counts."""

    pointer: ll.Value
    parts: list[ll.Value]  # element counts of one region's parts, in order
    dtype: DType
    tiled: ll.Value  # i1: whether the tiles serve the call (else the buffer is empty)

    def part(self, b: ll.IRBuilder, s: ll.Value, index: int) -> ll.Value:
        size = I64(self.dtype.itemsize)
        offset = b.mul(s, sum_of(b, self.parts))
        for earlier in self.parts[:index]:
            offset = b.add(offset, earlier)
        return b.gep(self.pointer, [b.mul(offset, size)])


def sum_of(b: ll.IRBuilder, values: list[ll.Value]) -> ll.Value:
    result: ll.Value = I64(0)
    for value in values:
        result = b.add(result, value)
    return result


def suits(b: ll.IRBuilder, dtype: DType, g: Geometry) -> ll.Value:
    """i1: the tiles serve this convolution (the library is loaded, P >= NR, O and K at
    least SMALL_ROWS)."""
    _, present = library_function(b, f"tc_tiles_{dtype.value}")
    wide = b.icmp_signed(">=", g.positions(b), I64(tile_columns(dtype)))
    rows = b.and_(
        b.icmp_signed(">=", g.filters, I64(SMALL_ROWS)), b.icmp_signed(">=", g.taps(b), I64(SMALL_ROWS))
    )
    return b.and_(present, b.and_(wide, rows))


def slices(b: ll.IRBuilder, batch: ll.Value, parts: list[ll.Value]) -> ll.Value:
    """How many slices the batch is cut into: SLICES at most, one image each at least, and
    few enough that their scratch (regions of `parts`) stays within SCRATCH_ELEMENTS, or
    one slice where a single image's takes more. A function of the shapes only, so the
    partial sums, and the results, do not depend on the thread count."""
    fit = b.sdiv(I64(SCRATCH_ELEMENTS), at_least_1(b, sum_of(b, parts)))
    count = at_least_1(b, b.select(b.icmp_signed("<", fit, I64(SLICES)), fit, I64(SLICES)))
    return b.select(b.icmp_signed("<", batch, count), batch, count)


def padded(b: ll.IRBuilder, value: ll.Value, multiple: int) -> ll.Value:
    return b.mul(b.sdiv(b.add(value, I64(multiple - 1)), I64(multiple)), I64(multiple))


def _rows(b: ll.IRBuilder, m: ll.Value) -> ll.Value:
    """The row block tc_tiles uses for m rows (A must be packed in it)."""
    return b.select(b.icmp_signed(">=", m, I64(tile_rows())), I64(tile_rows()), I64(SMALL_ROWS))


def packed_size(b: ll.IRBuilder, m: ll.Value, k: ll.Value) -> ll.Value:
    """Elements of an m x k matrix packed for tc_tiles: whole blocks of its row block, as
    small_gemm.py counts them (m = 5 packs two blocks of SMALL_ROWS, 8 rows: more than MR = 6
    rows on AVX2 hosts, where padding to MR overran the buffer)."""
    rows = _rows(b, m)
    blocks = b.sdiv(b.add(m, b.sub(rows, I64(1))), rows)
    return b.mul(b.mul(blocks, rows), k)


def parts(b: ll.IRBuilder, which: str, dtype: DType, g: Geometry) -> list[ll.Value]:
    """The parts of one slice's scratch for `which` op: forward, fused (kernel.conv2d),
    input or filters."""
    taps, positions = g.taps(b), g.positions(b)
    col = b.mul(taps, positions)
    plane = b.mul(g.filters, positions)
    if which == "forward":
        return [col]
    if which in ("input", "fused"):  # fused: the plane holds the convolution before the epilogue
        return [col, plane]
    line = _line(b, dtype, taps)
    tall = padded(b, g.filters, tile_rows())
    return [col, plane, b.mul(positions, line), b.mul(tall, positions), b.mul(tall, line)]


def _line(b: ll.IRBuilder, dtype: DType, taps: ll.Value) -> ll.Value:
    """The row length (elements) of col^T and of the filters' partial sums: the taps padded
    to a whole NR, plus one vector. A row of a power of two bytes (2 KB in LeNet) put every
    row of the transposing writes and of the tiles' reads in the same few sets of L1, which
    evicted each other: the filters' gradient ran slower than BLAS's."""
    return b.add(padded(b, taps, tile_columns(dtype)), I64(lanes(dtype)))


def _each_image(
    b: ll.IRBuilder,
    name: str,
    work: tuple[ll.Value, Scratch],
    emit: Callable[[ll.Value, ll.Value], None],
    start: Callable[[ll.Value], None] | None = None,
) -> None:
    """emit(s, n) for every image n of every slice s of work = (batch, the slices'
    scratch), the slices spread over the cores; start(s) first in each slice."""
    batch, scratch = work
    count = slices(b, batch, scratch.parts)
    threads = thread_count(b)

    def job(begin: ll.Value, end: ll.Value) -> None:
        with counted_loop(b, end, f"{name}.slice", start=begin) as s:
            if start is not None:
                start(s)
            first = b.sdiv(b.mul(s, batch), count)
            stop = b.sdiv(b.mul(b.add(s, I64(1)), batch), count)
            with counted_loop(b, stop, f"{name}.image", start=first) as n:
                emit(s, n)

    outlined_job(b, name, (count, threads), job)


def _tiles(b: ll.IRBuilder, dtype: DType, operands: list[ll.Value], accumulate: bool) -> None:
    """tc_tiles(packed A, B, B's row stride, C, C's row stride, m, n, k)."""
    function, _ = library_function(b, f"tc_tiles_{dtype.value}")
    a, bp, ldb, c, ldc, m, n, k = operands
    pointers = [b.bitcast(p, I8_PTR) for p in (a, bp, c)]
    b.call(function, [pointers[0], pointers[1], ldb, pointers[2], ldc, m, n, k, ll.Constant(I1, accumulate)])


def _plane(b: ll.IRBuilder, array: ArrayRef, n: ll.Value, scratch: ll.Value) -> tuple[ll.Value, ll.Value]:
    """Image n of `array` (O x rows x cols) as an O x P matrix with adjacent columns: (its
    pointer, its row stride in bytes), in place when its planes are C-contiguous, else
    copied into `scratch`."""
    image = image_of(b, array, n)
    size = I64(array.dtype.itemsize)
    cols = image.shape[2]
    adjacent = b.and_(
        b.icmp_signed("==", image.strides[2], size),
        b.icmp_signed("==", image.strides[1], b.mul(cols, size)),
    )
    row = b.mul(b.mul(image.shape[1], cols), size)
    with b.if_then(b.not_(adjacent)):
        copy_planes(b, image, scratch, [row, b.mul(cols, size), size])
    pointer = b.select(adjacent, image.pointer, b.bitcast(scratch, image.pointer.type))
    return pointer, b.select(adjacent, image.strides[0], row)


def forward(
    b: ll.IRBuilder,
    x: ArrayRef,
    w: ArrayRef,
    y: ArrayRef,
    g: Geometry,
    buffers: tuple,  # type: ignore[type-arg]
    epilogue: Callable[[ll.Value, ll.Value], None] | None = None,
) -> None:
    """y = conv2d(x, w); buffers: (scratch, plain O x K, packed W). With `epilogue`, image
    n's convolution goes into the slice's plane (scratch part 1) instead, and
    epilogue(n, plane) computes image n of the result from it (kernel.conv2d's body)."""
    scratch, plain, packed = buffers
    dtype, size = x.dtype, I64(x.dtype.itemsize)
    taps, positions = g.taps(b), g.positions(b)
    emit_pack(b, w, plain)
    rows = _rows(b, g.filters)
    blocks = b.sdiv(b.add(g.filters, b.sub(rows, I64(1))), rows)
    pack_rows(b, dtype, (plain, b.mul(taps, size), size), packed, (g.filters, taps, rows, blocks))
    stride = b.mul(positions, size)

    def image(s: ll.Value, n: ll.Value) -> None:
        col = scratch.part(b, s, 0)
        unfold(b, image_of(b, x, n), col, positions, g, to_col=True)
        # y: a fresh C-contiguous result
        target = image_of(b, y, n).pointer if epilogue is None else scratch.part(b, s, 1)
        _tiles(b, dtype, [packed, col, stride, target, stride, g.filters, positions, taps], accumulate=False)
        if epilogue is not None:
            epilogue(n, target)

    _each_image(b, "conv.tiles", (x.shape[0], scratch), image)


def backward_input(
    b: ll.IRBuilder, w: ArrayRef, gy: ArrayRef, dx: ArrayRef, g: Geometry, buffers: tuple
) -> None:  # type: ignore[type-arg]
    """dx = the input's gradient (dx a fresh C-contiguous result); buffers as for `forward`."""
    scratch, plain, packed = buffers
    dtype, size = dx.dtype, I64(dx.dtype.itemsize)
    taps, positions = g.taps(b), g.positions(b)
    emit_pack(b, w, plain)
    rows = _rows(b, taps)
    blocks = b.sdiv(b.add(taps, b.sub(rows, I64(1))), rows)
    # W^T (K x O): a tap's next row is the next element of W's row
    pack_rows(b, dtype, (plain, size, b.mul(taps, size)), packed, (taps, g.filters, rows, blocks))
    stride = b.mul(positions, size)

    def image(s: ll.Value, n: ll.Value) -> None:
        col = scratch.part(b, s, 0)
        gradient, ldg = _plane(b, gy, n, scratch.part(b, s, 1))
        _tiles(b, dtype, [packed, gradient, ldg, col, stride, taps, positions, g.filters], accumulate=False)
        target = image_of(b, dx, n)
        emit_zero(b, dtype, target.pointer, product(b, list(target.shape)))
        unfold(b, target, col, positions, g, to_col=False)

    _each_image(b, "conv.tiles.input", (dx.shape[0], scratch), image)


def backward_filters(
    b: ll.IRBuilder, x: ArrayRef, gy: ArrayRef, dw: ArrayRef, g: Geometry, scratch: Scratch
) -> None:
    """dw = the filters' gradient (dw a fresh C-contiguous result)."""
    dtype, size = dw.dtype, I64(dw.dtype.itemsize)
    taps, positions = g.taps(b), g.positions(b)
    wide, tall = padded(b, taps, tile_columns(dtype)), padded(b, g.filters, tile_rows())
    line = _line(b, dtype, taps)
    partial_size = b.mul(tall, line)

    def start(s: ll.Value) -> None:
        emit_zero(b, dtype, scratch.part(b, s, 4), partial_size)
        emit_zero(b, dtype, scratch.part(b, s, 2), b.mul(positions, line))  # col^T's padding

    def image(s: ll.Value, n: ll.Value) -> None:
        col, transposed = scratch.part(b, s, 0), scratch.part(b, s, 2)
        unfold(b, image_of(b, x, n), col, positions, g, to_col=True)
        stride = b.mul(line, size)
        emit_transpose(
            b, dtype, col, transposed, (taps, positions), (b.mul(positions, size), stride), lanes(dtype)
        )
        gradient, ldg = _plane(b, gy, n, scratch.part(b, s, 1))
        packed = scratch.part(b, s, 3)
        blocks = b.sdiv(tall, I64(tile_rows()))
        pack_rows(
            b,
            dtype,
            (gradient, ldg, size),
            packed,
            (g.filters, positions, I64(tile_rows()), blocks),
            pad=True,
        )
        operands = [packed, transposed, stride, scratch.part(b, s, 4), stride, tall, wide, positions]
        _tiles(b, dtype, operands, accumulate=True)

    _each_image(b, "conv.tiles.filters", (x.shape[0], scratch), image, start)
    # dw = the slices' partial sums, added in slice order
    emit_zero(b, dtype, dw.pointer, product(b, list(dw.shape)))
    with counted_loop(b, slices(b, x.shape[0], scratch.parts), "conv.tiles.sum") as s:
        partial = scratch.part(b, s, 4)
        with counted_loop(b, g.filters, "conv.tiles.row") as o:
            into = b.gep(dw.pointer, [b.mul(b.mul(o, taps), size)])
            emit_add_run(b, dtype, into, b.gep(partial, [b.mul(b.mul(o, line), size)]), taps)
