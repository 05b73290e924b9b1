"""Native code for tx.pool_2d and tx.pool_2d_grad (ir/ops/pool.py): direct loop nests.

A loop over every leading index (any layout, read through the strides; the first axis
spread over the cores, outline.outlined_job) holds the loops
over the output rows and cols; each output's window is clipped as Theano's Pool.perform
clips it: rows [max(r*st - pad, 0), min(min(r*st + ws, H + 2*pad) - pad, H)), the
padded count `min(r*st + ws, H + 2*pad) - r*st` being average_inc_pad's divisor. The
gradient clears its (fresh, contiguous) result one plane at a time, just before adding
each window's share to it: g / divisor, or for max g at every element equal to the
window's maximum.

The windows whole inside the input (all of them, unpadded with ignore_border) take a fast
path where x's columns are adjacent: per output row, one loop over those outputs whose
body reads the window's ws[0]*ws[1] elements at offsets known when compiling (unrolled,
at most MAX_FAST_TAPS), which LLVM vectorises across outputs: the loop is a function of its
own with `noalias` row pointers (`_outlined_row`). It computes what the general loops
compute, in the same order (max's nan rule, the sum's order, ties in the gradient), so
results are the same bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir import DType
from ..ir.ops.pool import Pool2D, Pool2DGrad, pool_output_size
from . import llvm_ir as ll
from .context import LoweringContext, lowering
from .control import counted_loop
from .conv_runs import emit_fill_run
from .gemm import entry_alloca, product
from .nest import ArrayRef, IterationSpace
from .outline import outlined_job
from .parallel import GRAIN, thread_count
from .terms import LLVMSizes
from .types import I1, I8_PTR, I64, load_element, mark_not_captured, register_type, store_element

MAX_FAST_TAPS = 16  # windows of more elements take the general loops
Window = tuple[tuple[ll.Value, ll.Value], tuple[ll.Value, ll.Value], ll.Value]  # rows, cols, padded count


def _output_size(b: ll.IRBuilder, op: Pool2D | Pool2DGrad, size: ll.Value, a: int) -> ll.Value:
    """The pooled length along spatial axis a (ignore_border: the plan has checked the fit)."""
    return pool_output_size(LLVMSizes(b), size, op.ws[a], op.stride[a], op.padding[a], op.ignore_border)


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


def _leading(b: ll.IRBuilder, arrays: list[ArrayRef], body: Callable[[list[ll.Value]], None]) -> None:
    """body(pointers) for every index of the leading axes (all but the last two), the first
    of them spread over the cores when the arrays are large enough to pay for a thread.
    Each plane is computed by the same code whichever thread takes it."""
    if len(arrays[0].shape) < 3:
        body([a.pointer for a in arrays])
        return
    count = arrays[0].shape[0]
    elements = product(b, list(arrays[0].shape))
    threads = b.select(b.icmp_signed(">=", elements, I64(2 * GRAIN)), thread_count(b), I64(1))

    def job(begin: ll.Value, end: ll.Value) -> None:
        with counted_loop(b, end, "pool.first", start=begin) as index:
            pointers = [b.gep(a.pointer, [b.mul(index, a.strides[0])]) for a in arrays]
            space = IterationSpace(arrays[0].shape[1:-2], [a.strides[1:-2] for a in arrays])
            space.walk(b, "pool.axis", pointers, lambda inner, _: body(inner))

    outlined_job(b, "pool", (count, threads), job)


def _outputs(
    b: ll.IRBuilder,
    op: Pool2D | Pool2DGrad,
    x: ArrayRef,
    out: tuple[ll.Value, ll.Value],
    each: Callable[..., None],
    fast: Callable[..., None],
) -> None:
    """each(r, c, window) for every output position, but fast(r, (first, stop)) for the
    outputs c of row r whose windows lie whole inside the input (x's cols adjacent)."""
    rank = len(x.shape)
    rows, cols = x.shape[rank - 2], x.shape[rank - 1]
    whole_rows, whole_cols = _whole(b, op, rows, out[0], 0), _whole(b, op, cols, out[1], 1)
    adjacent = b.icmp_signed("==", x.strides[rank - 1], I64(x.dtype.itemsize))
    usable = I1(op.ws[0] * op.ws[1] <= MAX_FAST_TAPS)
    with counted_loop(b, out[0], "pool.r") as r:
        row_span, row_count = _span(b, op, r, rows, 0)

        def clipped(first: ll.Value, stop: ll.Value) -> None:
            with counted_loop(b, stop, "pool.c", start=first) as c:
                col_span, col_count = _span(b, op, c, cols, 1)
                each(r, c, (row_span, col_span, b.mul(row_count, col_count)))

        inside = b.and_(b.icmp_signed(">=", r, whole_rows[0]), b.icmp_signed("<", r, whole_rows[1]))
        with b.if_else(b.and_(b.and_(inside, adjacent), usable)) as (whole, otherwise):
            with whole:
                clipped(I64(0), whole_cols[0])
                fast(r, whole_cols)
                clipped(whole_cols[1], out[1])
            with otherwise:
                clipped(I64(0), out[1])


def _whole(
    b: ll.IRBuilder, op: Pool2D | Pool2DGrad, size: ll.Value, out: ll.Value, a: int
) -> tuple[ll.Value, ll.Value]:
    """The outputs [first, stop) along axis a whose windows lie whole inside the input:
    r*stride - pad >= 0 and r*stride - pad + ws <= size."""
    stride, pad, ws = op.stride[a], op.padding[a], op.ws[a]
    first = I64(-(-pad // stride))
    room = b.add(size, I64(pad - ws))  # stop = floor(room / stride) + 1, none if room < 0
    stop = b.select(b.icmp_signed("<", room, I64(0)), I64(0), b.add(b.sdiv(room, I64(stride)), I64(1)))
    stop = b.select(b.icmp_signed(">", stop, out), out, stop)
    return first, b.select(b.icmp_signed("<", stop, first), first, stop)


def _taps(
    b: ll.IRBuilder, op: Pool2D | Pool2DGrad, array: ArrayRef, base: ll.Value, r: ll.Value, c: ll.Value
) -> list[ll.Value]:
    """The addresses of output (r, c)'s window (whole inside the input) in `array` (x or dx,
    last stride one element), rows then cols."""
    rank = len(array.shape)
    size = I64(array.dtype.itemsize)
    col = b.sub(b.mul(c, I64(op.stride[1])), I64(op.padding[1]))
    addresses = []
    for i in range(op.ws[0]):
        row = b.add(b.mul(r, I64(op.stride[0])), I64(i - op.padding[0]))
        start = b.gep(base, [b.mul(row, array.strides[rank - 2])])
        addresses += [b.gep(start, [b.mul(b.add(col, I64(j)), size)]) for j in range(op.ws[1])]
    return addresses


def _fold(b: ll.IRBuilder, op: Pool2D | Pool2DGrad, dtype: DType, values: list[ll.Value]) -> ll.Value:
    """The window's maximum (as _window_max) or sum over divisor, of a whole window."""
    real = register_type(dtype)
    if op.mode == "max":
        peak = ll.Constant(real, float("-inf"))
        for value in values:
            take = b.or_(b.fcmp_ordered(">", value, peak), b.fcmp_unordered("uno", value, value))
            peak = b.select(take, value, peak)
        return peak
    total = ll.Constant(real, 0.0)
    for value in values:
        total = b.fadd(total, value)
    return total if op.mode == "sum" else b.fdiv(total, ll.Constant(real, float(op.ws[0] * op.ws[1])))


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
    rank = len(x.shape)

    def per_slice(pointers: list[ll.Value]) -> None:
        source, target = pointers
        total = entry_alloca(b, real)  # in the function that runs the plane: one per thread

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

        def fast(r: ll.Value, span: tuple[ll.Value, ll.Value]) -> None:
            rows = _window_rows(b, op, x, source, r)
            out_row = b.gep(target, [b.mul(r, y.strides[rank - 2])])
            step = y.strides[rank - 1]

            def each_output(
                fb: ll.IRBuilder, c: ll.Value, pointers: list[ll.Value], steps: list[ll.Value]
            ) -> None:
                values = [load_element(fb, x.dtype, a) for a in _row_taps(fb, op, x.dtype, pointers[:-1], c)]
                store_element(
                    fb, x.dtype, _fold(fb, op, x.dtype, values), fb.gep(pointers[-1], [fb.mul(c, steps[0])])
                )

            _outlined_row(b, "pool.row", span, [*rows, out_row], [step], each_output)

        _outputs(b, op, x, out, each, fast)

    _leading(b, [x, y], per_slice)


@lowering(Pool2DGrad)
def _pool_grad(ctx: LoweringContext, op: Pool2DGrad) -> None:
    b = ctx.builder
    x, g = (ctx.arrays[v] for v in op.operands)
    ctx.result_buffers(op, list(x.shape))
    ctx.defer(_emit_pool_grad, b, op, x, g, ctx.arrays[op.results[0]])


def _emit_pool_grad(b: ll.IRBuilder, op: Pool2DGrad, x: ArrayRef, g: ArrayRef, dx: ArrayRef) -> None:
    rank = len(x.shape)
    out = (g.shape[rank - 2], g.shape[rank - 1])
    zero = ll.Constant(register_type(dx.dtype), 0.0)
    plane = b.mul(dx.shape[rank - 2], dx.shape[rank - 1])

    def per_slice(pointers: list[ll.Value]) -> None:
        source, gradient, target = pointers
        emit_fill_run(b, dx.dtype, target, plane, zero)  # dx is contiguous: clear it plane by plane

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

        def fast(r: ll.Value, span: tuple[ll.Value, ll.Value]) -> None:
            x_rows, dx_rows = _window_rows(b, op, x, source, r), _window_rows(b, op, dx, target, r)
            g_row = b.gep(gradient, [b.mul(r, g.strides[rank - 2])])

            def each_output(
                fb: ll.IRBuilder, c: ll.Value, pointers: list[ll.Value], steps: list[ll.Value]
            ) -> None:
                count = op.ws[0]
                share = load_element(fb, g.dtype, fb.gep(pointers[-1], [fb.mul(c, steps[0])]))
                _fast_share(fb, op, x.dtype, pointers[:count], pointers[count:-1], share, c)

            _outlined_row(
                b, "poolgrad.row", span, [*x_rows, *dx_rows, g_row], [g.strides[rank - 1]], each_output
            )

        _outputs(b, op, x, out, each, fast)

    _leading(b, [x, g, dx], per_slice)


def _fast_share(
    b: ll.IRBuilder,
    op: Pool2DGrad,
    dtype: DType,
    x_rows: list[ll.Value],
    dx_rows: list[ll.Value],
    share: ll.Value,
    c: ll.Value,
) -> None:
    """Output c's share of a whole window (rows at `x_rows`, `dx_rows`) added into dx, as
    the general loop adds it."""
    real = register_type(dtype)
    values = [load_element(b, dtype, a) for a in _row_taps(b, op, dtype, x_rows, c)]
    if op.mode in ("average_inc_pad", "average_exc_pad"):
        share = b.fdiv(share, ll.Constant(real, float(op.ws[0] * op.ws[1])))
    peak = _fold(b, op, dtype, values) if op.mode == "max" else None
    # Windows that do not overlap (stride >= window) give each element one share: the
    # element, cleared just before, becomes 0 + share without being read back (the add
    # keeps the general loop's bits: 0 + -0 is +0).
    disjoint = all(op.stride[a] >= op.ws[a] for a in (0, 1))
    zero = ll.Constant(real, 0.0)
    for value, into in zip(values, _row_taps(b, op, dtype, dx_rows, c), strict=True):
        current = zero if disjoint else load_element(b, dtype, into)
        added = b.fadd(current, share)
        if peak is not None:
            added = b.select(b.fcmp_ordered("==", value, peak), added, current)
        store_element(b, dtype, added, into)


def _window_rows(
    b: ll.IRBuilder, op: Pool2D | Pool2DGrad, array: ArrayRef, base: ll.Value, r: ll.Value
) -> list[ll.Value]:
    """Where each row of output row r's windows starts in `array` (x or dx)."""
    rank = len(array.shape)
    return [
        b.gep(
            base, [b.mul(b.add(b.mul(r, I64(op.stride[0])), I64(i - op.padding[0])), array.strides[rank - 2])]
        )
        for i in range(op.ws[0])
    ]


def _row_taps(
    b: ll.IRBuilder, op: Pool2D | Pool2DGrad, dtype: DType, rows: list[ll.Value], c: ll.Value
) -> list[ll.Value]:
    """The addresses of output c's window (whole inside the input, cols adjacent) in the
    rows starting at `rows`, rows then cols."""
    size = I64(dtype.itemsize)
    col = b.sub(b.mul(c, I64(op.stride[1])), I64(op.padding[1]))
    return [b.gep(row, [b.mul(b.add(col, I64(j)), size)]) for row in rows for j in range(op.ws[1])]


def _outlined_row(
    b: ll.IRBuilder,
    name: str,
    span: tuple[ll.Value, ll.Value],
    pointers: list[ll.Value],
    steps: list[ll.Value],
    each: Callable[[ll.IRBuilder, ll.Value, list[ll.Value], list[ll.Value]], None],
) -> None:
    """each(builder, c, pointers, steps) for c in [span): in a function of its own whose
    pointers are `noalias` (the rows of x, of the result, of g), so that LLVM vectorises the
    loop across outputs; inline, it could not tell the result's rows from x's."""
    module = b.module
    signature = ll.FunctionType(ll.VoidType(), [I64, I64, *[I64] * len(steps), *[I8_PTR] * len(pointers)])
    fn = ll.Function(module, signature, module.get_unique_name(name))
    fn.linkage = "internal"
    first, stop = fn.args[:2]
    inner_steps = list(fn.args[2 : 2 + len(steps)])
    inner_pointers = list(fn.args[2 + len(steps) :])
    for p in inner_pointers:
        p.add_attribute("noalias")
        mark_not_captured(p)
    fb = ll.IRBuilder(fn.append_basic_block("entry"))
    with counted_loop(fb, stop, "pool.c", start=first) as c:
        each(fb, c, inner_pointers, inner_steps)
    fb.ret_void()
    b.call(fn, [span[0], span[1], *steps, *[b.bitcast(p, I8_PTR) for p in pointers]])
