"""tx.gemm's code: C = beta C + alpha A . B, a weight matrix updated by a product in one pass
over it (passes/fuse_gemm.py makes the op from `W - lr * dot(x.T, g)`).

The module copies C into the result unless the buffer plan put the result in C's own buffer
(an update in place), then calls the support library's tc_gemm_<dtype> on the result, which
picks, as tc_dot does (linalg.py):

- tc's own tiles (small_gemm.py) where they suit with B's rows contiguous: each tile sums its
  products in registers from zero, as for tx.dot, then stores alpha * sum + beta * C, so each
  element of C is read once, by the store that overwrites it. Tiles at the edges overlap the
  ones before (small_gemm.py); an overlapping tile stores only the elements it owns (masked
  vector stores): storing the others again would update them twice. The MLP's hidden-layer
  update (784 x 20 . 20 x 500, profile=True, both pipelines in one process): the product and
  the update kernel 156 + 43 us, the tx.gemm 177 us in float32; 283 + 123 against 325 us in
  float64. Each tile asks for the next row block's C while it sums: without that, loading
  C cost the tx.gemm as much as the kernel it replaced.
- the outer-product kernel (outer_gemm.py) with that alpha and beta, for the weight gradient
  over a long minibatch, x^T . g with g narrow: it reads x and C once;
- BLAS's ?gemm or ?gemv with that alpha and beta, where BLAS takes the layouts and tc's
  narrow kernels do not suit;
- otherwise (the narrow kernels, packed copies) the plain product into a scratch buffer,
  combined into the result after; with no memory for the scratch, plain loops.
"""

from __future__ import annotations

from ..ir import DType
from . import llvm_ir as ll
from .blas_calls import Matrix, Scale
from .context import IDENTITY
from .control import counted_loop
from .gemm import at_least_1, entry_alloca
from .linalg import (
    DOT_TYPE,
    Routines,
    blas_dot,
    blas_takes,
    dot_arguments,
    dot_loops,
    dot_operands,
    narrow_gemm_suits,
    small_gemm_suits,
    swapped_small_gemm_suits,
)
from .loops import emit_elementwise_loop
from .narrow_gemm import masked_access
from .nest import ArrayRef
from .outer_gemm import call_outer_gemm
from .parallel import JOB_TYPE
from .register_tile import emit_fma_tile, lanes, packed_operands, tile_columns, tile_rows
from .small_gemm import GEMM_ARGUMENTS, SMALL_ROWS, emit_small_gemm, first_row
from .types import F64, I1, I8_PTR, I32, I64, declare, mark_not_captured, register_type

GEMM_TYPE = ll.FunctionType(ll.VoidType(), [*DOT_TYPE.args, F64, F64])  # tc_dot's, alpha, beta
SMALL_GEMM_UPDATE_TYPE = ll.FunctionType(I1, [*GEMM_ARGUMENTS, F64, F64])


def emit_gemm(
    builder: ll.IRBuilder,
    c: ArrayRef,
    a: ArrayRef,
    b_array: ArrayRef,
    out: ArrayRef,
    scale: tuple[float, float],
) -> None:
    """out (contiguous, the product's shape) = beta * c + alpha * a . b; `scale` (alpha, beta)."""
    from .support import library_function  # (support.py builds the library from this module)

    b = builder
    dtype = out.dtype
    apart = b.icmp_unsigned("!=", b.ptrtoint(c.pointer, I64), b.ptrtoint(out.pointer, I64))
    with b.if_then(apart):  # not in place: the result starts as a copy of C
        name = b.module.get_unique_name("gemm.copy")
        emit_elementwise_loop(b, name, out.shape, out.static_shape, [c], [(dtype, out.pointer)], IDENTITY)
    gemm, _ = library_function(b, f"tc_gemm_{dtype.value}")
    arguments = dot_arguments(b, a, b_array, out.pointer)
    b.call(gemm, [*arguments, ll.Constant(F64, scale[0]), ll.Constant(F64, scale[1])])


def gemm_function(module: ll.Module, dtype: DType) -> ll.Function:
    """The support library's void tc_gemm_<dtype>(tc_dot's arguments, alpha, beta): out =
    alpha * a . b + beta * out, out contiguous."""
    from .support import library_function

    fn = ll.Function(module, GEMM_TYPE, f"tc_gemm_{dtype.value}")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    a_array, b_array = dot_operands(dtype, fn.args)
    output, routines = fn.args[10], Routines(*fn.args[11:14])
    real = register_type(dtype)
    scale: Scale = tuple(v if dtype is DType.F64 else b.fptrunc(v, real) for v in fn.args[14:])  # type: ignore[assignment]
    a, m_b = Matrix(b, a_array, as_row=True), Matrix(b, b_array, as_row=False)
    m, k, n = a.rows, a.cols, m_b.cols
    done = entry_alloca(b, I1)
    b.store(ll.Constant(I1, 0), done)
    small, has_small = library_function(b, f"tc_small_gemm_update_{dtype.value}")
    direct = b.icmp_signed("==", m_b.col_stride, I64(1))
    with b.if_then(b.and_(b.and_(has_small, direct), small_gemm_suits(b, dtype, a, m_b))):
        arguments = [b.bitcast(a.pointer, I8_PTR), *a.byte_strides, b.bitcast(m_b.pointer, I8_PTR)]
        arguments += [m_b.byte_strides[0], output, m, n, k, routines.threads, *fn.args[14:]]
        b.store(b.call(small, arguments), done)
    with b.if_then(b.not_(b.load(done))):
        b.store(call_outer_gemm(b, dtype, (a, m_b), output, routines.threads, fn.args[14:]), done)
    with b.if_then(b.not_(b.load(done))):
        _through_blas(b, dtype, (a, m_b), output, routines, scale, done)
    with b.if_then(b.not_(b.load(done))):
        _through_scratch(b, dtype, (fn.args[:10], a, m_b), output, routines, scale)
    b.ret_void()
    return fn


def _through_blas(
    b: ll.IRBuilder,
    dtype: DType,
    operands: tuple[Matrix, Matrix],
    output: ll.Value,
    routines: Routines,
    scale: Scale,
    done: ll.Value,
) -> None:
    """BLAS with alpha and beta, where it takes the layouts and neither of tc's narrow kernels
    suits (they beat BLAS there: the plain product and a combining pass do too)."""
    from .support import library_function

    a, m_b = operands
    m, k, n = a.rows, a.cols, m_b.cols
    usable, _, layouts = blas_takes(b, a, m_b, routines.gemm)
    _, has_small = library_function(b, f"tc_small_gemm_{dtype.value}")
    _, has_narrow = library_function(b, f"tc_narrow_gemm_{dtype.value}")
    narrow = b.or_(
        b.and_(has_small, swapped_small_gemm_suits(b, dtype, a, m_b)),
        b.and_(has_narrow, narrow_gemm_suits(b, dtype, a, m_b)),
    )
    with b.if_then(b.and_(usable, b.not_(narrow))):
        blas_dot(b, dtype, routines, a, m_b, layouts, (m, n, k), output, scale)
        b.store(ll.Constant(I1, 1), done)


def _through_scratch(
    b: ll.IRBuilder,
    dtype: DType,
    operands: tuple[list[ll.Argument], Matrix, Matrix],
    output: ll.Value,
    routines: Routines,
    scale: Scale,
) -> None:
    """tc_dot into a scratch buffer, then output = alpha * scratch + beta * output; plain
    loops where the scratch cannot be allocated."""
    from .support import library_function

    matrices, a, m_b = operands
    m, k, n = a.rows, a.cols, m_b.cols
    count = b.mul(m, n)
    scratch = b.call(
        declare(b.module, "malloc", I8_PTR, [I64]), [b.mul(at_least_1(b, count), I64(dtype.itemsize))]
    )
    with b.if_else(b.icmp_unsigned("!=", scratch, ll.Constant(I8_PTR, None))) as (combined, loops):
        with combined:
            dot, _ = library_function(b, f"tc_dot_{dtype.value}")
            b.call(dot, [*matrices, scratch, *routines])
            pointer = register_type(dtype).as_pointer()
            product, result = b.bitcast(scratch, pointer), b.bitcast(output, pointer)
            with counted_loop(b, count, "gemm.combine") as i:
                target = b.gep(result, [i])
                value = b.fmul(scale[0], b.load(b.gep(product, [i])))
                b.store(b.fadd(value, b.fmul(scale[1], b.load(target))), target)
            b.call(declare(b.module, "free", ll.VoidType(), [I8_PTR]), [scratch])
        with loops:
            dot_loops(b, dtype, a, m_b, m, n, k, output, scale)


def small_gemm_update_function(module: ll.Module, dtype: DType) -> ll.Function:
    """i1 tc_small_gemm_update_<dtype>(tc_small_gemm's arguments, alpha, beta): C = alpha *
    A . B + beta * C by small_gemm's tiles; false (nothing done) when A's packed copy cannot
    be allocated."""
    fn = ll.Function(module, SMALL_GEMM_UPDATE_TYPE, f"tc_small_gemm_update_{dtype.value}")
    emit_small_gemm(fn, dtype, _job(module, dtype))  # alpha and beta: the job's last values
    return fn


def _job(module: ll.Module, dtype: DType) -> ll.Function:
    """The update's column blocks [begin, end), C's rows n elements apart."""
    fn = ll.Function(module, JOB_TYPE, module.get_unique_name(f"small_gemm.{dtype.value}.update.job"))
    fn.linkage = "internal"
    args, begin, end = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    loaded = [b.load(b.gep(args, [I32(i)])) for i in range(10)]
    packed, bp, c = loaded[0], loaded[1], loaded[3]
    ldb, m, n, k, rows = (b.ptrtoint(loaded[i], I64) for i in (2, 4, 5, 6, 7))
    real = register_type(dtype)
    scale = [b.bitcast(b.ptrtoint(loaded[i], I64), F64) for i in (8, 9)]
    if dtype is not DType.F64:
        scale = [b.fptrunc(v, real) for v in scale]
    ldc = b.mul(n, I64(dtype.itemsize))
    b.call(_blocks(module, dtype), [packed, bp, ldb, c, ldc, m, n, k, rows, begin, end, *scale])
    b.ret(ll.Constant(I1, 0))
    return fn


def _blocks(module: ll.Module, dtype: DType) -> ll.Function:
    """The column blocks [begin, end): every row block of each, with the rows and columns at
    its start that the block before owns (an edge block overlaps it)."""
    name = f"small_gemm.{dtype.value}.blocks.update"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    real = register_type(dtype)
    arguments = [I8_PTR, I8_PTR, I64, I8_PTR, *[I64] * 7, real, real]
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), arguments), name)
    fn.linkage = "internal"
    packed, bp, ldb, c, ldc, m, n, k, rows, begin, end, alpha, beta = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    size = I64(dtype.itemsize)
    nr = I64(tile_columns(dtype))
    row_blocks = b.sdiv(b.add(m, b.sub(rows, I64(1))), rows)
    with counted_loop(b, end, "block", start=begin) as block:
        column = first_row(b, block, nr, n)  # the last column block ends at n
        skip_columns = b.sub(b.mul(block, nr), column)
        b_block, c_block = b.gep(bp, [b.mul(column, size)]), b.gep(c, [b.mul(column, size)])
        with counted_loop(b, row_blocks, "rows") as i:
            start = first_row(b, i, rows, m)
            skip_rows = b.sub(b.mul(i, rows), start)
            a_block = b.gep(packed, [b.mul(b.mul(b.mul(i, k), rows), size)])
            c_rows = b.gep(c_block, [b.mul(start, ldc)])
            operands = [a_block, b_block, ldb, c_rows, ldc, k, alpha, beta, skip_rows, skip_columns]
            for tile in (tile_rows(), tile_rows() - 1, SMALL_ROWS):
                with b.if_then(b.icmp_signed("==", rows, I64(tile))):
                    b.call(_tile(module, dtype, tile), operands)
    b.ret_void()
    return fn


def _tile(module: ll.Module, dtype: DType, rows: int) -> ll.Function:
    """C[0:rows, 0:NR] = alpha * A[0:rows, :] . B[:, 0:NR] + beta * C, A packed; the first
    `skip_rows` rows and `skip_columns` columns are left alone (the tile before owns them)."""
    name = f"small_gemm.{dtype.value}.tile{rows}.update"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    real = register_type(dtype)
    arguments = [I8_PTR, I8_PTR, I64, I8_PTR, I64, I64, real, real, I64, I64]
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), arguments), name)
    fn.linkage = "internal"
    a, bp, ldb, c, ldc, k, alpha, beta, skip_rows, skip_columns = fn.args
    for pointer in (a, bp, c):
        mark_not_captured(pointer)
    c.add_attribute("noalias")
    a_address, load_b = packed_operands(dtype, rows, a, (bp, ldb))
    sums: dict[tuple[int, int], ll.Value] = {}

    def keep(b: ll.IRBuilder, r: int, h: int, value: ll.Value) -> None:
        sums[r, h] = value

    b = ll.IRBuilder(fn.append_basic_block("entry"))
    _prefetch_next(b, c, ldc, rows, 2 * lanes(dtype) * dtype.itemsize)
    emit_fma_tile(b, dtype, (rows, 2), k, (a_address, load_b, keep))
    _store_updates(b, dtype, (c, ldc), sums, (alpha, beta), (skip_rows, skip_columns))
    b.ret_void()
    return fn


def _store_updates(
    b: ll.IRBuilder,
    dtype: DType,
    c: tuple[ll.Value, ll.Value],
    sums: dict[tuple[int, int], ll.Value],
    scale: tuple[ll.Value, ll.Value],
    skips: tuple[ll.Value, ll.Value],
) -> None:
    """C's vector (r, h) = alpha * sums[r, h] + beta * C's, for every one the tile owns: all of
    them (plain stores) unless `skips` (rows, columns) leave some to the tile before."""
    pointer, ldc = c
    real, width, size = register_type(dtype), lanes(dtype), dtype.itemsize
    vector = ll.VectorType(real, width)
    undefined = ll.Constant(vector, ll.Undefined)
    zeros = ll.Constant(ll.VectorType(I32, width), [I32(0)] * width)
    alpha, beta = (b.shuffle_vector(b.insert_element(undefined, v, I32(0)), undefined, zeros) for v in scale)
    suffix = f"v{width}{'f64' if dtype is DType.F64 else 'f32'}"
    fma = declare(b.module, f"llvm.fmuladd.{suffix}", vector, [vector] * 3)

    addresses = {
        (r, h): b.bitcast(
            b.gep(pointer, [b.add(b.mul(I64(r), ldc), I64(h * width * size))]), vector.as_pointer()
        )
        for r, h in sums
    }
    updated = {
        rh: b.call(fma, [alpha, total, b.fmul(beta, b.load(addresses[rh], align=size))])
        for rh, total in sums.items()
    }
    skip_rows, skip_columns = skips
    whole = b.and_(b.icmp_signed("==", skip_rows, I64(0)), b.icmp_signed("==", skip_columns, I64(0)))
    with b.if_else(whole) as (plain, masked):
        with plain:
            for rh, value in updated.items():
                b.store(value, addresses[rh], align=size)
        with masked:
            store = masked_access(b.module, dtype, "store")
            lane = ll.VectorType(ll.IntType(8 * size), width)
            first = b.trunc(skip_columns, lane.element) if size < 8 else skip_columns
            first = b.shuffle_vector(
                b.insert_element(ll.Constant(lane, ll.Undefined), first, I32(0)),
                ll.Constant(lane, ll.Undefined),
                zeros,
            )
            nothing = ll.Constant(ll.VectorType(I1, width), [ll.Constant(I1, 0)] * width)
            columns = {  # the lanes of vector h at or past the first column owned
                h: b.icmp_signed(">=", ll.Constant(lane, [h * width + i for i in range(width)]), first)
                for h in sorted({h for _, h in sums})
            }
            rows = {r: b.icmp_signed(">=", I64(r), skip_rows) for r in sorted({r for r, _ in sums})}
            for (r, h), value in updated.items():
                mask = b.select(rows[r], columns[h], nothing)
                b.call(store, [value, addresses[r, h], I32(size), mask])


def _prefetch_next(b: ll.IRBuilder, c: ll.Value, ldc: ll.Value, rows: int, row_bytes: int) -> None:
    """Ask for the next row block's part of C (`rows` rows of `row_bytes` bytes, for writing)
    while this tile sums its products: the tiles walk C down a column block, a row's
    cache line or two at a time, too far apart for the hardware's prefetchers, and the sums
    of a small k take less time than loading C from memory. Past C's end the hints are
    ignored (a prefetch never faults)."""
    prefetch = declare(b.module, "llvm.prefetch.p0i8", ll.VoidType(), [I8_PTR, I32, I32, I32])
    for r in range(rows):
        row = b.gep(c, [b.mul(I64(rows + r), ldc)])
        for offset in (*range(0, row_bytes, 64), row_bytes - 1):  # every line the row's part touches
            b.call(prefetch, [b.gep(row, [I64(offset)]), I32(1), I32(3), I32(1)])
