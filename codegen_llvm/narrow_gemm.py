"""tc's own product kernel for narrow results: C (m x n) = A (m x k) . B (k x n) with n below three
vectors (NARROW_VECTORS): a 10-class output layer and its weight gradient, in float64 too where
a vector holds 4 (AVX2: one column block of small_gemm.py and a tail would compute 16).

BLAS packs all of A for such a product (m x k values copied, for only n multiply-adds each),
which costs as much as the arithmetic. Here A is read in place: a tile of MR rows keeps one
or two vectors of accumulators per row (three: fewer rows per tile), and per step p
broadcasts A[r, p] of each row into FMAs with B's row p, loaded under a mask of the n
columns (as are C's stores). Row blocks
(the last one overlapping the one before, to the same bits) are spread over the cores.
"""

from __future__ import annotations

from ..ir import DType
from . import llvm_ir as ll
from .control import counted_loop
from .parallel import JOB_TYPE
from .register_tile import emit_fma_tile, lanes, tile_rows, vector_bytes
from .small_gemm import GEMM_ARGUMENTS, run_blocks
from .types import I1, I32, I64, mark_not_captured, register_type

NARROW_VECTORS = 3  # the widest result, in vectors of accumulators per row
_ARGUMENTS = GEMM_ARGUMENTS[:-1]  # the job's: all but the thread count
NARROW_GEMM_TYPE = ll.FunctionType(ll.VoidType(), GEMM_ARGUMENTS)


def narrow_gemm_function(module: ll.Module, dtype: DType) -> ll.Function:
    """void tc_narrow_gemm_<dtype>(a, a row stride, a col stride (bytes), b, b row stride
    (bytes), c, m, n, k, threads): C = A . B for 0 < n < NARROW_VECTORS vectors and m >= MR
    (linalg.py sends it 1 < n: one column is gemv's)."""
    name = f"tc_narrow_gemm_{dtype.value}"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    fn = ll.Function(module, NARROW_GEMM_TYPE, name)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    m, n, k, threads = fn.args[6:]
    blocks = b.sdiv(b.add(m, I64(tile_rows() - 1)), I64(tile_rows()))
    values = list(fn.args[: len(_ARGUMENTS)])
    run_blocks(b, _job(module, dtype), values, blocks, (b.mul(b.mul(m, n), k), threads))
    b.ret_void()
    return fn


def _job(module: ll.Module, dtype: DType) -> ll.Function:
    """Row blocks [begin, end) of MR rows, the last one ending at m."""
    fn = ll.Function(module, JOB_TYPE, module.get_unique_name(f"narrow_gemm.{dtype.value}.job"))
    fn.linkage = "internal"
    args, begin, end = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    loaded = [b.load(b.gep(args, [I32(i)])) for i in range(len(_ARGUMENTS))]
    a, bp, c = loaded[0], loaded[3], loaded[5]
    rsa, csa, ldb, m, n, k = (b.ptrtoint(loaded[i], I64) for i in (1, 2, 4, 6, 7, 8))
    rows = tile_rows()
    ldc = b.mul(n, I64(dtype.itemsize))
    vectors = b.sdiv(b.add(n, I64(lanes(dtype) - 1)), I64(lanes(dtype)))
    with counted_loop(b, end, "rows", start=begin) as block:
        first = b.mul(block, I64(rows))
        last = b.sub(m, I64(rows))
        first = b.select(b.icmp_signed("<", first, last), first, last)

        def operands(row: int) -> list[ll.Value]:
            at = b.add(first, I64(row))
            return [b.gep(a, [b.mul(at, rsa)]), rsa, csa, bp, ldb, b.gep(c, [b.mul(at, ldc)]), ldc, k, n]

        switch = b.switch(vectors, b.function.append_basic_block("vectors.3"))
        after = b.function.append_basic_block("vectors.done")
        for count in (1, 2):
            case = b.function.append_basic_block(f"vectors.{count}")
            switch.add_case(I64(count), case)
            b.position_at_end(case)
            b.call(_tile(module, dtype, count, rows), operands(0))
            b.branch(after)
        b.position_at_end(switch.default)
        # Three vectors of accumulators a row take fewer rows at a time (the registers hold
        # 3 x 3 of them and B's 3 vectors with AVX2's 16), as often as the row block needs.
        third = _rows_of_three()
        for row in range(0, rows, third):
            b.call(_tile(module, dtype, 3, third), operands(row))
        b.branch(after)
        b.position_at_end(after)
    b.ret(ll.Constant(I1, 0))
    return fn


def _rows_of_three() -> int:
    """Rows a tile of three vectors per row takes: MR where 32 registers hold 3 x MR
    accumulators (AVX-512), else half of MR (AVX2: 3 x 3 accumulators of 16)."""
    return tile_rows() if vector_bytes() == 64 else tile_rows() // 2


def masked_access(module: ll.Module, dtype: DType, kind: str) -> ll.Function:
    """llvm.masked.load / llvm.masked.store of one vector."""
    width = lanes(dtype)
    vector = ll.VectorType(register_type(dtype), width)
    mask = ll.VectorType(I1, width)
    name = f"llvm.masked.{kind}.v{width}{'f64' if dtype is DType.F64 else 'f32'}.p0"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    if kind == "load":
        return ll.Function(module, ll.FunctionType(vector, [vector.as_pointer(), I32, mask, vector]), name)
    return ll.Function(module, ll.FunctionType(ll.VoidType(), [vector, vector.as_pointer(), I32, mask]), name)


def _tile(module: ll.Module, dtype: DType, vectors: int, rows: int) -> ll.Function:
    """C[0:rows, 0:n] = A[0:rows, :] . B[:, 0:n] with `vectors` vectors per row, the last masked."""
    name = f"narrow_gemm.{dtype.value}.tile{vectors}x{rows}"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [*_ARGUMENTS[:7], I64, I64]), name)
    fn.linkage = "internal"
    a, rsa, csa, bp, ldb, c, ldc, k, n = fn.args
    for pointer in (a, bp, c):
        mark_not_captured(pointer)
    c.add_attribute("noalias")
    size, width = dtype.itemsize, lanes(dtype)
    vector = ll.VectorType(register_type(dtype), width)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    # Only the last vector is partial (the job picks `vectors` = n / width rounded up): the
    # others load and store whole. The mask compares lanes of the elements' width, one
    # vector compare: with i64 lanes LLVM rebuilt the float32 masks inside the k loop.
    lane = ll.IntType(8 * size)
    index = ll.Constant(ll.VectorType(lane, width), [ll.Constant(lane, i) for i in range(width)])
    limit = (
        b.trunc(b.sub(n, I64((vectors - 1) * width)), lane)
        if size < 8
        else b.sub(n, I64((vectors - 1) * width))
    )
    splat = b.shuffle_vector(
        b.insert_element(ll.Constant(ll.VectorType(lane, width), ll.Undefined), limit, I32(0)),
        ll.Constant(ll.VectorType(lane, width), ll.Undefined),
        ll.Constant(ll.VectorType(I32, width), [I32(0)] * width),
    )
    mask = b.icmp_signed("<", index, splat)
    masked_load, masked_store = masked_access(module, dtype, "load"), masked_access(module, dtype, "store")
    zero = ll.Constant(vector, [ll.Constant(register_type(dtype), 0.0)] * width)

    def a_address(b: ll.IRBuilder, p: ll.Value, r: int) -> ll.Value:
        return b.gep(a, [b.add(b.mul(I64(r), rsa), b.mul(p, csa))])

    def load_b(b: ll.IRBuilder, p: ll.Value, h: int) -> ll.Value:
        address = b.bitcast(b.gep(b.gep(bp, [b.mul(p, ldb)]), [I64(h * width * size)]), vector.as_pointer())
        if h < vectors - 1:
            return b.load(address, align=size)
        return b.call(masked_load, [address, I32(size), mask, zero])

    def store_c(b: ll.IRBuilder, r: int, h: int, value: ll.Value) -> None:
        address = b.bitcast(
            b.gep(b.gep(c, [b.mul(I64(r), ldc)]), [I64(h * width * size)]), vector.as_pointer()
        )
        if h < vectors - 1:
            b.store(value, address, align=size)
        else:
            b.call(masked_store, [value, address, I32(size), mask])

    emit_fma_tile(b, dtype, (rows, vectors), k, (a_address, load_b, store_c))
    b.ret_void()
    return fn
