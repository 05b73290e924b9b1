"""Native code for tx.pool_2d and tx.pool_2d_grad (ir/ops/pool.py): direct loop nests.

A loop over every leading index (any layout, read through the strides) holds the loops
over the output rows and cols; each output's window is clipped as Theano's Pool.perform
clips it: rows [max(r*st - pad, 0), min(min(r*st + ws, H + 2*pad) - pad, H)), the
padded count `min(r*st + ws, H + 2*pad) - r*st` being average_inc_pad's divisor. The
gradient clears its (fresh, contiguous) result, then adds each window's share: g / divisor,
or for max g at every element equal to the window's maximum (found in a first pass).
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir as ll

from ..ir import DType
from ..ir.ops.pool import Pool2D, Pool2DGrad
from .context import LoweringContext, lowering
from .control import counted_loop
from .gemm import emit_zero, entry_alloca, product
from .loops import ArrayRef
from .types import I64, load_element, register_type, store_element

Window = tuple[tuple[ll.Value, ll.Value], tuple[ll.Value, ll.Value], ll.Value]  # rows, cols, padded count


def _output_size(b: ll.IRBuilder, op: Pool2D | Pool2DGrad, size: ll.Value, a: int) -> ll.Value:
    ws, stride, pad = op.ws[a], op.stride[a], op.padding[a]
    if op.ignore_border:  # the plan has checked size + 2*pad >= ws
        return b.add(b.sdiv(b.add(size, I64(2 * pad - ws)), I64(stride)), I64(1))
    if stride >= ws:  # floor((size - 1) / stride) + 1, which is 0 for an empty axis
        count = b.add(b.sdiv(b.sub(size, I64(1)), I64(stride)), I64(1))
        return b.select(b.icmp_signed("==", size, I64(0)), I64(0), count)
    numerator = b.sub(size, I64(1 + ws - stride))
    positive = b.icmp_signed(">", numerator, I64(0))
    return b.add(b.select(positive, b.sdiv(numerator, I64(stride)), I64(0)), I64(1))


def _span(
    b: ll.IRBuilder, op: Pool2D | Pool2DGrad, index: ll.Value, size: ll.Value, a: int
) -> tuple[tuple[ll.Value, ll.Value], ll.Value]:
    """The window of output `index` along spatial axis a: (first, stop) in the input, padded count."""
    pad = I64(op.padding[a])
    start = b.mul(index, I64(op.stride[a]))
    end = b.add(start, I64(op.ws[a]))
    limit = b.add(size, I64(2 * op.padding[a]))
    end = b.select(b.icmp_signed(">", end, limit), limit, end)
    first = b.sub(start, pad)
    first = b.select(b.icmp_signed("<", first, I64(0)), I64(0), first)
    stop = b.sub(end, pad)
    stop = b.select(b.icmp_signed(">", stop, size), size, stop)
    return (first, stop), b.sub(end, start)


def _leading(
    b: ll.IRBuilder, arrays: list[ArrayRef], depth: int, pointers: list[ll.Value], body: Callable[..., None]
) -> None:
    """body(pointers) for every index of the leading axes (all but the last two)."""
    if depth == len(arrays[0].shape) - 2:
        body(pointers)
        return
    with counted_loop(b, arrays[0].shape[depth], f"pool.axis{depth}") as index:
        inner = [b.gep(p, [b.mul(index, a.strides[depth])]) for p, a in zip(pointers, arrays, strict=True)]
        _leading(b, arrays, depth + 1, inner, body)


def _outputs(
    b: ll.IRBuilder,
    op: Pool2D | Pool2DGrad,
    x: ArrayRef,
    out: tuple[ll.Value, ll.Value],
    each: Callable[..., None],
) -> None:
    """each(r, c, window) for every output position."""
    rank = len(x.shape)
    rows, cols = x.shape[rank - 2], x.shape[rank - 1]
    with counted_loop(b, out[0], "pool.r") as r:
        row_span, row_count = _span(b, op, r, rows, 0)
        with counted_loop(b, out[1], "pool.c") as c:
            col_span, col_count = _span(b, op, c, cols, 1)
            each(r, c, (row_span, col_span, b.mul(row_count, col_count)))


def _walk(b: ll.IRBuilder, x: ArrayRef, base: ll.Value, window: Window, visit: Callable) -> None:
    """visit(address of x's element) for every element of the window (x's last two axes)."""
    rank = len(x.shape)
    (r0, r1), (c0, c1), _ = window
    with counted_loop(b, r1, "pool.i", start=r0) as i:
        row = b.gep(base, [b.mul(i, x.strides[rank - 2])])
        with counted_loop(b, c1, "pool.j", start=c0) as j:
            visit(b.gep(row, [b.mul(j, x.strides[rank - 1])]))


def _divisor(b: ll.IRBuilder, op: Pool2D | Pool2DGrad, dtype: DType, window: Window) -> ll.Value | None:
    (r0, r1), (c0, c1), padded = window
    if op.mode == "average_inc_pad":
        count = padded
    elif op.mode == "average_exc_pad":
        count = b.mul(b.sub(r1, r0), b.sub(c1, c0))
    else:
        return None
    return b.sitofp(count, register_type(dtype))


def _window_max(b: ll.IRBuilder, x: ArrayRef, base: ll.Value, window: Window) -> ll.Value:
    """The window's maximum; nan if it holds a nan (numpy's max)."""
    real = register_type(x.dtype)
    peak = entry_alloca(b, real)
    b.store(ll.Constant(real, float("-inf")), peak)

    def visit(address: ll.Value) -> None:
        value, current = load_element(b, x.dtype, address), b.load(peak)
        take = b.or_(b.fcmp_ordered(">", value, current), b.fcmp_unordered("uno", value, value))
        b.store(b.select(take, value, current), peak)

    _walk(b, x, base, window, visit)
    return b.load(peak)


def _spatial(b: ll.IRBuilder, array: ArrayRef, pointer: ll.Value, r: ll.Value, c: ll.Value) -> ll.Value:
    rank = len(array.shape)
    offset = b.add(b.mul(r, array.strides[rank - 2]), b.mul(c, array.strides[rank - 1]))
    return b.gep(pointer, [offset])


@lowering(Pool2D)
def _pool(ctx: LoweringContext, op: Pool2D) -> None:
    b = ctx.builder
    x = ctx.arrays[op.operands[0]]
    rank = len(x.shape)
    out = (_output_size(b, op, x.shape[rank - 2], 0), _output_size(b, op, x.shape[rank - 1], 1))
    ctx.result_buffers(op, [*x.shape[:-2], *out])
    ctx.defer(_emit_pool, b, op, x, ctx.arrays[op.results[0]], out)


def _emit_pool(b: ll.IRBuilder, op: Pool2D, x: ArrayRef, y: ArrayRef, out: tuple[ll.Value, ll.Value]) -> None:
    real = register_type(x.dtype)
    total = entry_alloca(b, real)

    def per_slice(pointers: list[ll.Value]) -> None:
        source, target = pointers

        def each(r: ll.Value, c: ll.Value, window: Window) -> None:
            if op.mode == "max":
                value = _window_max(b, x, source, window)
            else:
                b.store(ll.Constant(real, 0.0), total)

                def add(address: ll.Value) -> None:
                    b.store(b.fadd(b.load(total), load_element(b, x.dtype, address)), total)

                _walk(b, x, source, window, add)
                value = b.load(total)
                divisor = _divisor(b, op, x.dtype, window)
                value = value if divisor is None else b.fdiv(value, divisor)
            store_element(b, x.dtype, value, _spatial(b, y, target, r, c))

        _outputs(b, op, x, out, each)

    _leading(b, [x, y], 0, [x.pointer, y.pointer], per_slice)


@lowering(Pool2DGrad)
def _pool_grad(ctx: LoweringContext, op: Pool2DGrad) -> None:
    b = ctx.builder
    x, g = (ctx.arrays[v] for v in op.operands)
    ctx.result_buffers(op, list(x.shape))
    ctx.defer(_emit_pool_grad, b, op, x, g, ctx.arrays[op.results[0]])


def _emit_pool_grad(b: ll.IRBuilder, op: Pool2DGrad, x: ArrayRef, g: ArrayRef, dx: ArrayRef) -> None:
    rank = len(x.shape)
    emit_zero(b, dx.dtype, dx.pointer, product(b, list(dx.shape)))
    out = (g.shape[rank - 2], g.shape[rank - 1])

    def per_slice(pointers: list[ll.Value]) -> None:
        source, gradient, target = pointers

        def each(r: ll.Value, c: ll.Value, window: Window) -> None:
            share = load_element(b, x.dtype, _spatial(b, g, gradient, r, c))
            divisor = _divisor(b, op, x.dtype, window)
            share = share if divisor is None else b.fdiv(share, divisor)
            peak = _window_max(b, x, source, window) if op.mode == "max" else None
            # x's and dx's offsets differ (dx is contiguous): walk dx, read x beside it
            (r0, r1), (c0, c1), _ = window
            with counted_loop(b, r1, "poolgrad.i", start=r0) as i:
                with counted_loop(b, c1, "poolgrad.j", start=c0) as j:
                    into = _spatial(b, dx, target, i, j)
                    added = b.fadd(load_element(b, dx.dtype, into), share)
                    if peak is not None:
                        hit = b.fcmp_ordered(
                            "==", load_element(b, x.dtype, _spatial(b, x, source, i, j)), peak
                        )
                        added = b.select(hit, added, load_element(b, dx.dtype, into))
                    store_element(b, dx.dtype, added, into)

        _outputs(b, op, x, out, each)

    _leading(b, [x, g, dx], 0, [x.pointer, g.pointer, dx.pointer], per_slice)
