"""tc's own product kernel for the shapes BLAS does badly: one side of the product small.

C (m x n, C-contiguous) = A (m x k, any strides) . B (k x n, unit stride along n), float32 or
float64. With m = 20 (a minibatch) BLAS packs all of B on every call, which costs as much as
the arithmetic, and splits the work over its threads along m, where there is little to split;
with k = 20 (a weight gradient) it packs all of A. Here nothing is packed:

- C is cut into tiles of MR rows (MR - 1 where that computes fewer rows) x NR = 2 vectors of
  columns. One tile keeps its 2·MR accumulators in registers while it walks k: per step it
  loads two vectors of B's row, and broadcasts one element of A per row into a fused
  multiply-add.
- A column block of B (k x NR) is walked once per row block; it stays in L2 between them.
- The tiles of one column block run on one thread; column blocks are spread over the cores
  (tc_parallel_units) when the product is large enough to pay for the threads.
- Edges: the last row block starts at m - MR (and the last column block at n - NR), so it
  overlaps the one before and computes some elements twice, to the same bits (each element
  is the same sequence of FMAs over k whichever tile computes it). Products with n < NR,
  and row counts below the smallest tile, take the other paths (BLAS).

Each element is sum_p a[i,p] * b[p,j] accumulated in order p = 0..k-1 with FMAs, so results
do not depend on the tiling or on the thread count.
"""

from __future__ import annotations

from ..ir import DType
from . import llvm_ir as ll
from .control import counted_loop
from .gemm import at_least_1
from .parallel import JOB_TYPE
from .register_tile import emit_fma_tile, lanes, packed_operands, tile_columns, tile_rows
from .target import host_of
from .transpose import emit_transpose
from .types import (
    I1,
    I8_PTR,
    I32,
    I64,
    declare,
    load_element,
    mark_not_captured,
    register_type,
    store_element,
)

# a, a row stride, a col stride (bytes), b, b row stride (bytes), c, m, n, k, threads
GEMM_ARGUMENTS = [I8_PTR, I64, I64, I8_PTR, I64, I8_PTR, I64, I64, I64, I64]
SMALL_GEMM_TYPE = ll.FunctionType(I1, GEMM_ARGUMENTS)
# packed a, b, b row stride, c, c row stride (bytes), m, n, k, accumulate
TILES_TYPE = ll.FunctionType(ll.VoidType(), [I8_PTR, I8_PTR, I64, I8_PTR, I64, I64, I64, I64, I1])

# Below this many multiply-adds (measured: 8M lose, 33M gain 1.3x) a second thread (its creation
# costs about 35 microseconds) does not pay.
THREADED_MACS = 1 << 20
SMALL_ROWS = 4  # the row block for products with fewer rows than MR


def small_gemm_function(module: ll.Module, dtype: DType) -> ll.Function:
    """i1 tc_small_gemm_<dtype>(a, a row stride, a col stride (bytes), b, b row stride
    (bytes), c, m, n, k, threads): C = A . B for n >= NR and m >= SMALL_ROWS on at most
    `threads` threads; false (nothing done) when the packed copy of A cannot be allocated."""
    name = f"tc_small_gemm_{dtype.value}"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    fn = ll.Function(module, SMALL_GEMM_TYPE, name)
    emit_small_gemm(fn, dtype, _job(module, dtype))
    return fn


def emit_small_gemm(fn: ll.Function, dtype: DType, job: ll.Function) -> None:
    """The body of `fn`, whose first arguments are tc_small_gemm's: A packed, then `job` over
    the column blocks (its values: packed A, b, b row stride, c, m, n, k, the row block, then
    fn's arguments after the tenth, doubles as their bits), spread over the pool when that
    pays."""
    module = fn.module
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    a, rsa, csa, bp, ldb, c, m, n, k, threads = fn.args[:10]
    size = I64(dtype.itemsize)
    rows = row_block(b, m)
    row_blocks = b.sdiv(b.add(m, b.sub(rows, I64(1))), rows)
    bytes_ = b.mul(b.mul(b.mul(row_blocks, rows), at_least_1(b, k)), size)
    packed = b.call(declare(module, "malloc", I8_PTR, [I64]), [bytes_])
    allocated = b.icmp_unsigned("!=", packed, ll.Constant(I8_PTR, None))
    with b.if_then(allocated):
        pack_rows(b, dtype, (a, rsa, csa), packed, (m, k, rows, row_blocks))
        blocks = column_blocks(b, n, dtype)
        extra = [b.bitcast(v, I64) if isinstance(v.type, ll.DoubleType) else v for v in fn.args[10:]]
        values = [packed, bp, ldb, c, m, n, k, rows, *extra]
        run_blocks(b, job, values, blocks, (b.mul(b.mul(m, n), k), threads))
        b.call(declare(module, "free", ll.VoidType(), [I8_PTR]), [packed])
    b.ret(allocated)


def row_block(b: ll.IRBuilder, m: ll.Value) -> ll.Value:
    """The tile's rows for a product of m rows: MR; or MR - 1 where its tiles compute at least
    a twentieth fewer rows (their cost per row is the same: FMA-bound). A minibatch of 20 is
    4 tiles of 5 rows on AVX2, not 4 of 6 overlapping by 4, which took as long as 24 rows:
    20 x 784 x 500 float32 138-146 -> 127-128 us (best of 15). SMALL_ROWS below both."""
    mr = tile_rows()
    rows = b.select(b.icmp_signed(">=", m, I64(mr)), I64(mr), I64(SMALL_ROWS))
    covered = {r: b.mul(b.sdiv(b.add(m, I64(r - 1)), I64(r)), I64(r)) for r in (mr, mr - 1)}
    fewer = b.icmp_signed("<", b.mul(covered[mr - 1], I64(20)), b.mul(covered[mr], I64(19)))
    return b.select(b.and_(fewer, b.icmp_signed(">=", m, I64(mr - 1))), I64(mr - 1), rows)


def run_blocks(b: ll.IRBuilder, job: ll.Function, values: list, blocks: ll.Value, work: tuple) -> None:  # type: ignore[type-arg]
    """job(values, 0, blocks), spread over the pool when the product's multiply-adds (work:
    (count, threads)) pay for a second thread: one contiguous range of blocks per thread.
    (The pool's usual four chunks a thread made the 784x20 @ 20x500 product of the MLP's
    weight gradient slower on two threads than on one: 282-320 against 245-270 us.)"""
    macs, threads = work
    units = b.select(b.icmp_signed("<", blocks, threads), blocks, threads)
    args = b.alloca(I8_PTR, size=I32(len(values) + 2))
    for index, value in enumerate([*values, blocks, units]):
        slot = b.gep(args, [I32(index)])
        b.store(value if value.type == I8_PTR else b.inttoptr(value, I8_PTR), slot)
    many = b.and_(b.icmp_signed(">=", macs, I64(THREADED_MACS)), b.icmp_signed(">", threads, I64(1)))
    with b.if_else(many) as (threaded, serial):
        with threaded:
            host_of(b.module).parallel_for(b, _ranges(b.module, job, len(values)), args, units, threads)
        with serial:
            b.call(job, [args, I64(0), blocks])


def _ranges(module: ll.Module, job: ll.Function, count: int) -> ll.Function:
    """`job` over units: unit u runs it on blocks [u*B/U, (u+1)*B/U), where B (the blocks)
    and U (the units) are stored after the job's `count` values."""
    name = f"{job.name}.ranges"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    fn = ll.Function(module, JOB_TYPE, name)
    fn.linkage = "internal"
    args, begin, end = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    blocks, units = (b.ptrtoint(b.load(b.gep(args, [I32(count + i)])), I64) for i in (0, 1))
    result = b.alloca(I1)
    b.store(ll.Constant(I1, 0), result)
    with counted_loop(b, end, "unit", start=begin) as u:
        first = b.sdiv(b.mul(u, blocks), units)
        stop = b.sdiv(b.mul(b.add(u, I64(1)), blocks), units)
        b.store(b.or_(b.load(result), b.call(job, [args, first, stop])), result)
    b.ret(b.load(result))
    return fn


def pack_rows(
    b: ll.IRBuilder, dtype: DType, a: tuple, packed: ll.Value, sizes: tuple, pad: bool = False
) -> None:  # type: ignore[type-arg]
    """packed[block][p][r] = A[first row of block + r, p]: the broadcasts of one step of a
    tile next to each other, at offsets known when compiling. The last block ends at m
    (overlapping the one before), or with `pad` starts at block * rows and reads zeros
    past m (tiles that accumulate must not overlap). A block of MR rows (a power of two)
    inside A with adjacent columns is a transposing copy in vectors (transpose.py)."""
    pointer, rsa, csa = a
    m, k, rows, row_blocks = sizes
    size = I64(dtype.itemsize)
    n = tile_rows()
    with counted_loop(b, row_blocks, "pack.block") as block:
        first = b.mul(block, rows) if pad else first_row(b, block, rows, m)
        source = b.gep(pointer, [b.mul(first, rsa)])
        target = b.gep(packed, [b.mul(b.mul(b.mul(block, k), rows), size)])
        elements = (b, dtype, (source, rsa, csa), target, (first, m, k, rows), pad)
        if n & (n - 1):  # 6 rows (AVX2): the transposing copy takes power-of-two blocks only
            _pack_elements(*elements)
        else:
            fast = b.and_(b.icmp_signed("==", csa, size), b.icmp_signed("<=", b.add(first, rows), m))
            with b.if_else(b.and_(fast, b.icmp_signed("==", rows, I64(n)))) as (vectors, one_by_one):
                with vectors:
                    emit_transpose(b, dtype, source, target, (I64(n), k), (rsa, I64(n * dtype.itemsize)), n)
                with one_by_one:
                    _pack_elements(*elements)


def _pack_elements(
    b: ll.IRBuilder, dtype: DType, a: tuple, target: ll.Value, sizes: tuple, pad: bool
) -> None:  # type: ignore[type-arg]
    """One block of pack_rows element by element; with `pad`, rows past m store zeros."""
    source, rsa, csa = a
    first, m, k, rows = sizes
    size = I64(dtype.itemsize)
    zero = ll.Constant(register_type(dtype), 0.0)
    with counted_loop(b, k, "pack.p") as p:
        column = b.gep(source, [b.mul(p, csa)])
        step = b.gep(target, [b.mul(b.mul(p, rows), size)])
        with counted_loop(b, rows, "pack.r") as r:
            if pad:  # rows past m read row m - 1 and store zero
                inside = b.icmp_signed("<", b.add(first, r), m)
                row = b.select(inside, r, b.sub(b.sub(m, I64(1)), first))
                value = b.select(inside, load_element(b, dtype, b.gep(column, [b.mul(row, rsa)])), zero)
            else:
                value = load_element(b, dtype, b.gep(column, [b.mul(r, rsa)]))
            store_element(b, dtype, value, b.gep(step, [b.mul(r, size)]))


def column_blocks(b: ll.IRBuilder, n: ll.Value, dtype: DType) -> ll.Value:
    """ceil(n / NR): the last block ends at n, overlapping the one before. Counted as a block
    of its own, not as more work for the last full one, it lets two threads split a product
    500 float32 wide 16 + 16 tiles, not 15 + 17."""
    nr = I64(tile_columns(dtype))
    return b.sdiv(b.add(n, b.sub(nr, I64(1))), nr)


def first_row(b: ll.IRBuilder, block: ll.Value, rows: ll.Value, m: ll.Value) -> ll.Value:
    """Row blocks start every `rows` rows, except the last, which ends at m (m >= rows)."""
    start = b.mul(block, rows)
    last = b.sub(m, rows)
    return b.select(b.icmp_signed("<", start, last), start, last)


def tiles_function(module: ll.Module, dtype: DType) -> ll.Function:
    """void tc_tiles_<dtype>(packed A, b, b row stride, c, c row stride (bytes), m, n, k,
    accumulate): C = A . B, or C += A . B, on this thread, for n >= NR and m >= SMALL_ROWS,
    A packed by `pack_rows` in blocks of MR rows (SMALL_ROWS when m < MR). With `accumulate`
    the tiles must not overlap: m a multiple of the row block (A packed with `pad`) and n of
    NR. For callers that run many products of one A on their own threads (convolutions)."""
    name = f"tc_tiles_{dtype.value}"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    fn = ll.Function(module, TILES_TYPE, name)
    packed, bp, ldb, c, ldc, m, n, k, accumulate = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    rows = b.select(b.icmp_signed(">=", m, I64(tile_rows())), I64(tile_rows()), I64(SMALL_ROWS))
    blocks = column_blocks(b, n, dtype)
    with b.if_else(accumulate) as (adding, storing):
        for branch, adds in ((adding, True), (storing, False)):
            with branch:
                b.call(_blocks(module, dtype, adds), [packed, bp, ldb, c, ldc, m, n, k, rows, I64(0), blocks])
    b.ret_void()
    return fn


def _job(module: ll.Module, dtype: DType) -> ll.Function:
    """tc_small_gemm's column blocks [begin, end), C's rows n elements apart."""
    fn = ll.Function(module, JOB_TYPE, module.get_unique_name(f"small_gemm.{dtype.value}.job"))
    fn.linkage = "internal"
    args, begin, end = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    loaded = [b.load(b.gep(args, [I32(i)])) for i in range(8)]
    packed, bp, c = loaded[0], loaded[1], loaded[3]
    ldb, m, n, k, rows = (b.ptrtoint(loaded[i], I64) for i in (2, 4, 5, 6, 7))
    ldc = b.mul(n, I64(dtype.itemsize))
    b.call(_blocks(module, dtype, False), [packed, bp, ldb, c, ldc, m, n, k, rows, begin, end])
    b.ret(ll.Constant(I1, 0))
    return fn


def _blocks(module: ll.Module, dtype: DType, accumulate: bool) -> ll.Function:
    """The column blocks [begin, end): every row block of each."""
    name = f"small_gemm.{dtype.value}.blocks{'.add' if accumulate else ''}"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    arguments = [I8_PTR, I8_PTR, I64, I8_PTR, *[I64] * 7]
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), arguments), name)
    fn.linkage = "internal"
    packed, bp, ldb, c, ldc, m, n, k, rows, begin, end = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    size = I64(dtype.itemsize)
    nr = tile_columns(dtype)
    row_blocks = b.sdiv(b.add(m, b.sub(rows, I64(1))), rows)
    tile_sizes = (tile_rows(), tile_rows() - 1, SMALL_ROWS)
    with counted_loop(b, end, "block", start=begin) as block:
        column = first_row(b, block, I64(nr), n)  # the last column block ends at n
        b_block, c_block = b.gep(bp, [b.mul(column, size)]), b.gep(c, [b.mul(column, size)])
        with counted_loop(b, row_blocks, "rows") as i:
            a_block = b.gep(packed, [b.mul(b.mul(b.mul(i, k), rows), size)])
            c_rows = b.gep(c_block, [b.mul(first_row(b, i, rows, m), ldc)])
            operands = [a_block, b_block, ldb, c_rows, ldc, k]
            for tile in tile_sizes:
                with b.if_then(b.icmp_signed("==", rows, I64(tile))):
                    b.call(_tile(module, dtype, tile, accumulate), operands)
    b.ret_void()
    return fn


def _tile(module: ll.Module, dtype: DType, rows: int, accumulate: bool) -> ll.Function:
    """C[0:rows, 0:NR] = A[0:rows, :] . B[:, 0:NR] (or += with `accumulate`), A packed."""
    name = f"small_gemm.{dtype.value}.tile{rows}{'.add' if accumulate else ''}"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [I8_PTR, I8_PTR, I64, I8_PTR, I64, I64]), name)
    fn.linkage = "internal"
    a, bp, ldb, c, ldc, k = fn.args
    for pointer in (a, bp, c):
        mark_not_captured(pointer)
    c.add_attribute("noalias")
    size, width = dtype.itemsize, lanes(dtype)
    vector = ll.VectorType(register_type(dtype), width)
    a_address, load_b = packed_operands(dtype, rows, a, (bp, ldb))

    def c_vector(b: ll.IRBuilder, r: int, h: int) -> ll.Value:
        address = b.gep(b.gep(c, [b.mul(I64(r), ldc)]), [I64(h * width * size)])
        return b.bitcast(address, vector.as_pointer())

    def store_c(b: ll.IRBuilder, r: int, h: int, value: ll.Value) -> None:
        b.store(value, c_vector(b, r, h), align=size)

    def load_c(b: ll.IRBuilder, r: int, h: int) -> ll.Value:
        return b.load(c_vector(b, r, h), align=size)

    b = ll.IRBuilder(fn.append_basic_block("entry"))
    emit_fma_tile(b, dtype, (rows, 2), k, (a_address, load_b, store_c), load_c if accumulate else None)
    b.ret_void()
    return fn
