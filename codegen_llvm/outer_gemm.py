"""tc's product kernel for a weight gradient over a long minibatch: C (m x n) = alpha * A . B +
beta * C with A a transposed view (A = x^T, x's rows contiguous), k long and n narrow, as in
the logistic regression's x^T . g (784 x 600 . 600 x 10) and its update W - lr * x^T . g.

Such a product is a sum of k outer products, x's row p times g's row p. Every other kernel
reads x more than once or copies it: BLAS packs all of x, small_gemm (through C^T = g^T . x,
transposed_gemm.py) walks each block of x's columns once per row tile of g^T and needs a
scratch C^T and a combining pass, the narrow kernel reads a few values of each row of x per
tile. Here a tile keeps n accumulator vectors per vector of C's rows (one per column of C:
C^T's rows, n x V vectors in registers) and walks k once: per step p it loads x's row p at
the tile's columns and broadcasts g[p, 0..n) into n x V fused multiply-adds. x is read once,
g (k x n, in the caches) once per tile, and C once, by the store that writes alpha * sum +
beta * C (C is not read when beta is 0, as BLAS's ?gemm does). Tiles are spread over the
cores; the last one ends at m and overlaps the one before, whose rows it leaves to it.
"""

from __future__ import annotations

from ..ir import DType
from . import llvm_ir as ll
from .blas_calls import Matrix
from .control import counted_loop
from .gemm import entry_alloca
from .parallel import JOB_TYPE
from .register_tile import emit_fma_tile, lanes
from .small_gemm import GEMM_ARGUMENTS, run_blocks
from .types import F64, I1, I8_PTR, I32, I64, declare, mark_not_captured, register_type

OUTER_WIDEST = 12  # n at most this: n x V accumulators, a vector of x and a broadcast in 16 registers
# The tiles made: one for each of these n, which also takes the n just below it (its last row
# of sums repeats g's last column and is not stored): 7 tiles, not 11, for the library to
# compile (each dtype's part 0.05 s quicker to build and emit with 11).
TILE_ROWS = (2, 3, 4, 6, 8, 10, 12)
# a, a col stride (bytes: A's rows are adjacent elements), b, b row stride, c, m, n, k, threads,
# alpha, beta -> whether it did the product (its partial sums' buffer could be allocated)
OUTER_GEMM_TYPE = ll.FunctionType(I1, [*GEMM_ARGUMENTS[:1], *GEMM_ARGUMENTS[2:], F64, F64])
PANEL_ROWS = 16  # rows of x the tiles take in turn (8-32 measured alike)
# the tile's: x at its first column, x's row stride, b, b row stride, n, c at its first row, c
# row stride, its partial sums, the rows of x, the rows it leaves to the tile before, whether
# the sums start (from 0) and end (stored into C)
_TILE_ARGUMENTS = [I8_PTR, I64, I8_PTR, I64, I64, I8_PTR, I64, I8_PTR, I64, I64, I1, I1]


def tile_rows_for(n: int) -> int:
    """The rows of sums of the tile that takes n (TILE_ROWS)."""
    return min(rows for rows in TILE_ROWS if rows >= n)


def vectors_per_tile(n: int) -> int:
    """V: vectors of C's rows the tile for n takes at once, so that its rows x V accumulators
    (at least 8, to keep two FMA units busy through their 4-cycle latency) fit beside x's
    vectors."""
    return min(4, max(1, OUTER_WIDEST // tile_rows_for(n)))


def outer_gemm_function(module: ll.Module, dtype: DType) -> ll.Function:
    """i1 tc_outer_gemm_<dtype>(a, a col stride (bytes), b, b row stride (bytes), c, m, n,
    k, threads, alpha, beta): C (m x n, rows contiguous) = alpha * A . B + beta * C for A's
    rows adjacent elements, B's rows contiguous, 2 <= n <= OUTER_WIDEST and m at least one
    tile (4 vectors of rows: `outer_gemm_suits`); false (nothing done) when the tiles'
    partial sums (about m x n values) cannot be allocated."""
    name = f"tc_outer_gemm_{dtype.value}"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    fn = ll.Function(module, OUTER_GEMM_TYPE, name)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    a, csa, bp, ldb, c, m, n, k, threads, alpha, beta = fn.args
    width = I64(lanes(dtype))
    for count in range(OUTER_WIDEST, 1, -1):  # the tile's rows of C for this n
        tile = I64(lanes(dtype) * vectors_per_tile(count))
        width = b.select(b.icmp_signed("==", n, I64(count)), tile, width)
    blocks = b.sdiv(b.add(m, b.sub(width, I64(1))), width)
    sums = b.mul(b.mul(blocks, width), b.mul(b.add(n, I64(1)), I64(dtype.itemsize)))  # a tile's rows <= n + 1
    partial = b.call(declare(module, "malloc", I8_PTR, [I64]), [sums])
    allocated = b.icmp_unsigned("!=", partial, ll.Constant(I8_PTR, None))
    with b.if_then(allocated):
        values = [v if v.type == I8_PTR else b.inttoptr(v, I8_PTR) for v in (a, csa, bp, ldb, c, m, n, k)]
        values += [partial, *(b.inttoptr(b.bitcast(v, I64), I8_PTR) for v in (alpha, beta))]
        run_blocks(b, _job(module, dtype), values, blocks, (b.mul(b.mul(m, n), k), threads))
        b.call(declare(module, "free", ll.VoidType(), [I8_PTR]), [partial])
    b.ret(allocated)
    return fn


def _job(module: ll.Module, dtype: DType) -> ll.Function:
    """Tiles [begin, end) of the width n's V makes, the last one ending at m, PANEL_ROWS rows
    of x at a time: each panel's rows (one after the other in memory) are read across, line
    after line, as the hardware's prefetchers follow, where a tile walking all k rows at once
    read one line from each of hundreds of pages, too many for the prefetchers to follow (the
    logistic regression's update W - 0.13 x^T . g, 784 x 600 . 600 x 10, x from memory: 590
    -> 185-200 us in float64, 310 -> 140-160 us in float32; the 3.76 MB of float64 x at
    20 GB/s, as the forward x . W reads it, take 190 us)."""
    fn = ll.Function(module, JOB_TYPE, module.get_unique_name(f"outer_gemm.{dtype.value}.job"))
    fn.linkage = "internal"
    args, begin, end = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    loaded = [b.load(b.gep(args, [I32(i)])) for i in range(11)]
    a, bp, c, partial = loaded[0], loaded[2], loaded[4], loaded[8]
    csa, ldb, m, n, k = (b.ptrtoint(loaded[i], I64) for i in (1, 3, 5, 6, 7))
    scale = [b.bitcast(b.ptrtoint(loaded[i], I64), F64) for i in (9, 10)]
    if dtype is not DType.F64:
        scale = [b.fptrunc(v, register_type(dtype)) for v in scale]
    size = I64(dtype.itemsize)
    ldc = b.mul(n, size)
    panels = b.sdiv(b.add(k, I64(PANEL_ROWS - 1)), I64(PANEL_ROWS))
    panels = b.select(b.icmp_signed(">", panels, I64(1)), panels, I64(1))  # k = 0: C = beta * C
    after = fn.append_basic_block("tiles.done")
    switch = b.switch(n, after)
    for rows in TILE_ROWS:
        case = fn.append_basic_block(f"rows.{rows}")
        for count in range(2, OUTER_WIDEST + 1):
            if tile_rows_for(count) == rows:
                switch.add_case(I64(count), case)
        b.position_at_end(case)
        width = I64(lanes(dtype) * vectors_per_tile(rows))
        tile = _tile(module, dtype, rows)
        with counted_loop(b, panels, "panels") as panel:
            top = b.mul(panel, I64(PANEL_ROWS))
            height = b.sub(k, top)
            height = b.select(b.icmp_signed("<", height, I64(PANEL_ROWS)), height, I64(PANEL_ROWS))
            starts, ends = (
                b.icmp_signed("==", panel, I64(0)),
                b.icmp_signed("==", b.add(panel, I64(1)), panels),
            )
            x_rows, g_rows = b.gep(a, [b.mul(top, csa)]), b.gep(bp, [b.mul(top, ldb)])
            with counted_loop(b, end, "tiles", start=begin) as block:
                owned = b.mul(block, width)
                last = b.sub(m, width)
                first = b.select(b.icmp_signed("<", owned, last), owned, last)
                x = b.gep(x_rows, [b.mul(first, size)])
                sums = b.gep(partial, [b.mul(owned, I64(rows * dtype.itemsize))])
                arguments = [x, csa, g_rows, ldb, n, b.gep(c, [b.mul(first, ldc)]), ldc, sums, height]
                b.call(tile, [*arguments, b.sub(owned, first), starts, ends, *scale])
        b.branch(after)
    b.position_at_end(after)
    b.ret(ll.Constant(I1, 0))
    return fn


def _tile(module: ll.Module, dtype: DType, rows: int) -> ll.Function:
    """sums[0:rows, 0:W] (+)= sum over the panel's rows p of g[p, 0:n]^T x[p, 0:W] (W = V
    vectors; n is rows or rows - 1, whose last row repeats g's column n - 1), from 0 where the
    sums start, else from the panel before's; where they end, then C[0:W, 0:n] = alpha *
    sums^T + beta * C, rows below `skip` left alone. The sums' chain of fused multiply-adds
    runs on through the panels as one would over all of k: the same bits."""
    name = f"outer_gemm.{dtype.value}.tile{rows}"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    real = register_type(dtype)
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [*_TILE_ARGUMENTS, real, real]), name)
    fn.linkage = "internal"
    x, ldx, bp, ldb, n, c, ldc, partial, k, skip, starts, ends, alpha, beta = fn.args
    for pointer in (x, bp, c, partial):
        mark_not_captured(pointer)
    c.add_attribute("noalias")
    size, width, vectors = dtype.itemsize, lanes(dtype), vectors_per_tile(rows)
    vector = ll.VectorType(real, width)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    last = b.sub(n, I64(1))
    columns = [b.mul(b.select(b.icmp_signed("<", I64(r), n), I64(r), last), I64(size)) for r in range(rows)]

    g_rows: dict[int, ll.Value] = {}  # g's row p, made once for the step's broadcasts

    def g_address(b: ll.IRBuilder, p: ll.Value, r: int) -> ll.Value:  # g[p, r]: C^T's row r
        if id(p) not in g_rows:
            g_rows[id(p)] = b.gep(bp, [b.mul(p, ldb)])
        return b.gep(g_rows[id(p)], [columns[r]])

    def load_x(b: ll.IRBuilder, p: ll.Value, h: int) -> ll.Value:  # x[p, vector h]
        address = b.gep(x, [b.add(b.mul(p, ldx), I64(h * width * size))])
        return b.load(b.bitcast(address, vector.as_pointer()), align=size)

    def sums_at(b: ll.IRBuilder, r: int, h: int) -> ll.Value:
        return b.bitcast(b.gep(partial, [I64((r * vectors + h) * width * size)]), vector.as_pointer())

    def load_sums(b: ll.IRBuilder, r: int, h: int) -> ll.Value:
        return b.select(starts, ll.Constant(vector, None), b.load(sums_at(b, r, h), align=size))

    sums: dict[tuple[int, int], ll.Value] = {}
    access = (g_address, load_x, lambda b, r, h, v: sums.update({(r, h): v}))
    emit_fma_tile(b, dtype, (rows, vectors), k, access, load_sums)
    for (r, h), value in sums.items():
        b.store(value, sums_at(b, r, h), align=size)
    with b.if_then(ends):
        _store_c(b, dtype, (width * vectors, n), (c, ldc, skip), partial, (alpha, beta))
    b.ret_void()
    return fn


def _store_c(
    b: ll.IRBuilder,
    dtype: DType,
    shape: tuple[int, ll.Value],
    target: tuple[ll.Value, ll.Value, ll.Value],
    partial: ll.Value,
    scale: tuple[ll.Value, ll.Value],
) -> None:
    """C[row, r] = alpha * sums[r, row] + beta * C[row, r] for the tile's rows from `skip` on
    and r < n (C not read where beta is 0), the sums (rows of W) from `partial`: loops, where
    one unrolled over the tile made the library's code three times as long."""
    tile, n = shape
    c, ldc, skip = target
    alpha, beta = scale
    real, size = register_type(dtype), dtype.itemsize
    reads = b.fcmp_ordered("one", beta, ll.Constant(real, 0.0))
    sums = b.bitcast(partial, real.as_pointer())
    with counted_loop(b, I64(tile), "store", start=skip) as row:
        pointer = b.bitcast(b.gep(c, [b.mul(row, ldc)]), real.as_pointer())
        with counted_loop(b, n, "store.columns") as r:
            address = b.gep(pointer, [r])
            value = b.fmul(alpha, b.load(b.gep(sums, [b.add(row, b.mul(r, I64(tile)))]), align=size))
            with_c = b.fadd(value, b.fmul(beta, b.load(address, align=size)))
            b.store(b.select(reads, with_c, value), address, align=size)


def outer_gemm_suits(b: ll.IRBuilder, dtype: DType, a: Matrix, m_b: Matrix) -> ll.Value:
    """Whether C = A . B is this kernel's: A's rows adjacent elements (a transposed view, x^T),
    B's rows contiguous, 2 <= n <= OUTER_WIDEST and m at least four vectors (the widest tile).
    (k long: tc_dot and tc_gemm ask small_gemm first, whose packed copy of A is cheap for a
    short k.)"""
    m, n = a.rows, m_b.cols
    layouts = b.and_(b.icmp_signed("==", a.row_stride, I64(1)), b.icmp_signed("==", m_b.col_stride, I64(1)))
    narrow = b.and_(b.icmp_signed(">=", n, I64(2)), b.icmp_signed("<=", n, I64(OUTER_WIDEST)))
    return b.and_(b.and_(layouts, narrow), b.icmp_signed(">=", m, I64(4 * lanes(dtype))))


def call_outer_gemm(
    b: ll.IRBuilder,
    dtype: DType,
    operands: tuple[Matrix, Matrix],
    output: ll.Value,
    threads: ll.Value,
    scale: tuple[ll.Value, ll.Value],
) -> ll.Value:
    """If the library has the kernel and it suits, output = alpha * A . B + beta * output by it
    (`scale`: alpha and beta as doubles); whether it did."""
    from .support import library_function  # (support.py builds the library from this module)

    a, m_b = operands
    kernel, present = library_function(b, f"tc_outer_gemm_{dtype.value}")
    done = entry_alloca(b, I1)
    b.store(ll.Constant(I1, 0), done)
    with b.if_then(b.and_(present, outer_gemm_suits(b, dtype, a, m_b))):
        arguments = [b.bitcast(a.pointer, I8_PTR), a.byte_strides[1], b.bitcast(m_b.pointer, I8_PTR)]
        arguments += [m_b.byte_strides[0], b.bitcast(output, I8_PTR), a.rows, m_b.cols, a.cols, threads]
        b.store(b.call(kernel, [*arguments, *scale]), done)
    return b.load(done)
