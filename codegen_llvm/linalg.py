"""Matrix products: BLAS gemm for float32/float64 when the layouts allow, loops otherwise.

Every float32/float64 tx.dot calls its dtype's tc_dot, which the support library holds
(support.py: compiled once per process, not optimised again in every module): the layout
checks, tc's own kernels for small sides, gemv or gemm, packing, loops. The module hands it
the BLAS routines, which the runtime writes into global function pointers per dtype
(`tc_blas_dgemm`, `tc_blas_sgemm`, ...) after loading the code, so object code holds no
process-specific address and can be cached. Row-major C = A B is computed as the
column-major C^T = B^T A^T; an operand with unit stride along either axis is passed
transposed or not; any other layout is packed, or (no BLAS) takes a plain loop nest, as
integer products do in the module's own function. tx.gemm's tc_gemm (an update by a
product) is gemm_update.py's, built from these parts.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from ..ir import DType
from . import llvm_ir as ll
from .blas_calls import Matrix, Scale, call_gemm, gemv_or, max_of
from .control import counted_loop
from .loops import emit_elementwise_loop
from .narrow_gemm import NARROW_VECTORS
from .nest import ArrayRef
from .outer_gemm import call_outer_gemm
from .parallel import module_global
from .register_tile import lanes, tile_columns, tile_rows
from .small_gemm import SMALL_ROWS
from .symbols import BLAS_GLOBALS, GEMV_GLOBALS, THREADS_GLOBAL
from .transposed_gemm import small_gemm_on_b_transposed, small_gemm_transposed
from .types import F64, I8_PTR, I64, register_type, store_element

SMALL_SIDE = 64  # m or k at most this: tc's own kernel (small_gemm.py)
# ... and B's column blocks (k x NR) at most this big: its tiles walk a block once per row
# block, from memory once it outgrows L2. The gradient of a scan's hoisted product, 64 x
# 32000 x 128: 44 ms in small_gemm, 12 in BLAS (the whole RNN gradient 102-105 -> 74-86 ms).
COLUMN_BLOCK_BYTES = 256 << 10
# ... and, where only k is small, at most this many rows: small_gemm packs all of A up front
# (a fresh allocation, 8 MB for a scan's hoisted input product 32000 x 64 x 128) and streams
# it once per column block, where BLAS packs A block by block (that RNN's forward 30-37 ->
# 19-22 ms); a weight gradient over a minibatch (784 x 20 x 500) stays tc's.
PACKED_ROWS = 4096
TRANSPOSED_COPY_BYTES = 128 << 10  # B a transposed view at most this big: copied for small_gemm


def _blas_pointer(module: ll.Module, dtype: DType, table: dict[DType, str] = BLAS_GLOBALS) -> ll.Value:
    name = table[dtype]
    glob = module.globals.get(name)
    if glob is None:
        glob = ll.GlobalVariable(module, I8_PTR, name)
        glob.initializer = ll.Constant(I8_PTR, None)
    return glob


def emit_dot(builder: ll.IRBuilder, a_array: ArrayRef, b_array: ArrayRef, output: ll.Value) -> None:
    """output (contiguous, row-major) = a . b: a call to the one product function of the dtype.
    For float32 and float64 it is the support library's (support.py: the layout checks, gemv or
    gemm, packing, tc's own kernels), compiled once per process rather than optimised by LLVM
    in every module; the call hands it this module's BLAS routines and thread count, which the
    runtime fills here. Other dtypes: the module's own loops."""
    b = builder
    dtype = a_array.dtype
    if dtype not in BLAS_GLOBALS:
        b.call(_loops_function(b.module, dtype), dot_arguments(b, a_array, b_array, output)[:11])
        return
    from .support import library_function  # (support.py builds the library from this module)

    dot, _ = library_function(b, f"tc_dot_{dtype.value}")
    b.call(dot, dot_arguments(b, a_array, b_array, output))


def dot_arguments(
    builder: ll.IRBuilder, a_array: ArrayRef, b_array: ArrayRef, output: ll.Value
) -> list[ll.Value]:
    """The arguments of a call to tc_dot (DOT_TYPE) from a module: a, b, the output, and the
    module's thread count and BLAS routines (float dtypes)."""
    b = builder
    dtype = a_array.dtype
    arguments = []
    for matrix in (Matrix(b, a_array, as_row=True), Matrix(b, b_array, as_row=False)):
        arguments += [b.bitcast(matrix.pointer, I8_PTR), matrix.rows, matrix.cols, *matrix.byte_strides]
    arguments.append(b.bitcast(output, I8_PTR))
    if dtype not in BLAS_GLOBALS:
        return arguments
    threads = b.load(module_global(b.module, THREADS_GLOBAL, I64, I64(1)))
    gemm = b.load(_blas_pointer(b.module, dtype))
    gemv = b.load(_blas_pointer(b.module, dtype, GEMV_GLOBALS))
    return [*arguments, threads, gemm, gemv]


_MATRIX_ARGUMENTS = [I8_PTR, I64, I64, I64, I64]  # pointer, rows, cols, row and col strides (bytes)
DOT_TYPE = ll.FunctionType(  # a, b, out, threads, ?gemm, ?gemv
    ll.VoidType(), [*_MATRIX_ARGUMENTS, *_MATRIX_ARGUMENTS, I8_PTR, I64, I8_PTR, I8_PTR]
)


def dot_function(module: ll.Module, dtype: DType) -> ll.Function:
    """The support library's void tc_dot_<dtype>(a, rows, cols, row stride, col stride
    (bytes), the same of b, out, threads, gemm, gemv), for float32 or float64: BLAS's ?gemm
    and ?gemv (null where there is no BLAS), tc's own kernels for small sides, loops."""
    fn = ll.Function(module, DOT_TYPE, f"tc_dot_{dtype.value}")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    a, m_b = dot_operands(dtype, fn.args)
    _emit_dot_body(b, a, m_b, fn.args[10], Routines(*fn.args[11:]))
    b.ret_void()
    return fn


def _loops_function(module: ll.Module, dtype: DType) -> ll.Function:
    """The module's void tc_dot_<dtype>(a, ..., b, ..., out) of plain loops (integers, bool)."""
    name = f"tc_dot_{dtype.value}"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), DOT_TYPE.args[:11]), name)
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    a, m_b = (Matrix(b, operand, as_row=True) for operand in dot_operands(dtype, fn.args))
    dot_loops(b, dtype, a, m_b, a.rows, m_b.cols, a.cols, fn.args[10])
    b.ret_void()
    return fn


def dot_operands(dtype: DType, args: list[ll.Argument]) -> tuple[ArrayRef, ArrayRef]:
    a, m_b = (
        ArrayRef(dtype, p, [rows, cols], [rs, cs], (None, None))
        for p, rows, cols, rs, cs in (args[:5], args[5:10])
    )
    return a, m_b


class Routines(NamedTuple):
    """What the calling module hands the product: its thread count and BLAS routines."""

    threads: ll.Value
    gemm: ll.Value  # i8*, null without BLAS
    gemv: ll.Value


def _emit_dot_body(
    builder: ll.IRBuilder, a_array: ArrayRef, b_array: ArrayRef, output: ll.Value, routines: Routines
) -> None:
    """output (contiguous, row-major) = a . b, for 2-d float operands."""
    from .support import library_function

    b = builder
    dtype = a_array.dtype
    a = Matrix(b, a_array, as_row=True)
    m_b = Matrix(b, b_array, as_row=False)
    m, k, n = a.rows, a.cols, m_b.cols
    routine, null = routines.gemm, ll.Constant(I8_PTR, None)
    usable, fits, layouts = blas_takes(b, a, m_b, routine)
    with b.if_else(usable) as (blas, loops):
        with blas:
            done = b.alloca(ll.IntType(1))
            b.store(ll.Constant(ll.IntType(1), 0), done)
            arguments = [b.bitcast(a.pointer, I8_PTR), *a.byte_strides]
            arguments += [b.bitcast(m_b.pointer, I8_PTR), m_b.byte_strides[0]]
            arguments += [b.bitcast(output, I8_PTR), m, n, k, routines.threads]
            small_gemm, has_small = library_function(b, f"tc_small_gemm_{dtype.value}")
            narrow_gemm, has_narrow = library_function(b, f"tc_narrow_gemm_{dtype.value}")
            small = b.and_(has_small, small_gemm_suits(b, dtype, a, m_b))
            with b.if_else(small) as (own, other):
                with own:
                    direct = b.icmp_signed("==", m_b.col_stride, I64(1))
                    with b.if_else(direct) as (rows_adjacent, columns_adjacent):
                        with rows_adjacent:
                            b.store(b.call(small_gemm, arguments), done)
                        with columns_adjacent:
                            b.store(small_gemm_on_b_transposed(b, dtype, small_gemm, arguments, m_b), done)
                with other:
                    unscaled = (ll.Constant(F64, 1.0), ll.Constant(F64, 0.0))
                    outer = call_outer_gemm(b, dtype, (a, m_b), output, routines.threads, unscaled)
                    b.store(outer, done)
                    swapped = b.and_(has_small, swapped_small_gemm_suits(b, dtype, a, m_b))
                    with b.if_else(b.and_(b.not_(outer), swapped)) as (swap, narrow):
                        with swap:
                            operands = (a, m_b, output, routines.threads)
                            b.store(small_gemm_transposed(b, dtype, small_gemm, operands), done)
                        with narrow:
                            narrow = b.and_(has_narrow, narrow_gemm_suits(b, dtype, a, m_b))
                            with b.if_then(b.and_(b.not_(outer), narrow)):
                                b.call(narrow_gemm, arguments)
                                b.store(ll.Constant(ll.IntType(1), 1), done)
            with b.if_then(b.not_(b.load(done))):  # not suited, or no memory for its copy of A
                blas_dot(b, dtype, routines, a, m_b, layouts, (m, n, k), output)
        with loops:
            with b.if_else(b.and_(b.icmp_unsigned("!=", routine, null), fits)) as (pack, naive):
                with pack:
                    _packed_dot(b, dtype, routines, a, m_b, (m, n, k), output)
                with naive:
                    dot_loops(b, dtype, a, m_b, m, n, k, output)


Layouts = tuple[tuple[ll.Value, ll.Value, ll.Value], tuple[ll.Value, ll.Value, ll.Value]]


def blas_takes(
    b: ll.IRBuilder, a: Matrix, m_b: Matrix, routine: ll.Value
) -> tuple[ll.Value, ll.Value, Layouts]:
    """(whether BLAS's `routine` takes the product as its operands lie: present, sizes within
    its 32-bit integers, each operand row- or column-major; whether the sizes fit; the
    operands' layouts as blas_dot takes them)."""
    m, k, n = a.rows, a.cols, m_b.cols
    a_rm, a_rld, a_cm, a_cld = a.layouts(b)
    b_rm, b_rld, b_cm, b_cld = m_b.layouts(b)
    limit = I64(2**31 - 1)
    fits = b.and_(
        b.and_(b.icmp_signed("<", m, limit), b.icmp_signed("<", n, limit)), b.icmp_signed("<", k, limit)
    )
    usable = b.and_(
        b.and_(b.icmp_unsigned("!=", routine, ll.Constant(I8_PTR, None)), fits),
        b.and_(b.or_(a_rm, a_cm), b.or_(b_rm, b_cm)),
    )
    return usable, fits, ((a_rm, a_rld, a_cld), (b_rm, b_rld, b_cld))


def small_gemm_suits(b: ll.IRBuilder, dtype: DType, a: Matrix, m_b: Matrix) -> ll.Value:
    """Whether tc's own kernel (small_gemm.py) beats BLAS here (bench/gemm.py): at least one
    tile of columns and of rows, a small side (m or k) that makes BLAS's packing cost as much
    as the arithmetic, and B's rows contiguous, or its columns (B a transposed view, as in
    the gradient of x . W: copied transposed first, as BLAS would pack it)."""
    m, k, n = a.rows, a.cols, m_b.cols
    limit = I64(SMALL_SIDE)
    short_rows = b.icmp_signed("<=", m, I64(PACKED_ROWS))
    small = b.or_(b.icmp_signed("<=", m, limit), b.and_(b.icmp_signed("<=", k, limit), short_rows))
    # a column block of B (k x NR) is walked once per row block from the cache it stays in
    column_block = b.mul(k, I64(tile_columns(dtype) * dtype.itemsize))
    small = b.and_(small, b.icmp_signed("<=", column_block, I64(COLUMN_BLOCK_BYTES)))
    fits = b.and_(b.icmp_signed(">=", n, I64(tile_columns(dtype))), b.icmp_signed(">=", m, I64(SMALL_ROWS)))
    unit = b.icmp_signed("==", m_b.col_stride, I64(1))
    # B's rows a multiple of 1 KiB apart all fall into a few sets of the L1 cache, which
    # then evicts the column block before the next row block reads it again: BLAS packs B.
    spread = b.icmp_signed("!=", b.and_(m_b.byte_strides[0], I64(1023)), I64(0))
    # a transposed copy pays where B is small enough to stay in the caches: above that the
    # copy measured 3x slower than BLAS's packing (20 x 500 . (784 x 500)^T: 800 against 250 us)
    copyable = b.icmp_signed("<=", b.mul(b.mul(k, n), I64(dtype.itemsize)), I64(TRANSPOSED_COPY_BYTES))
    transposed = b.and_(b.icmp_signed("==", m_b.row_stride, I64(1)), b.icmp_signed(">=", m, I64(tile_rows())))
    transposed = b.and_(transposed, copyable)
    return b.and_(b.and_(small, fits), b.or_(b.and_(unit, spread), transposed))


def swapped_small_gemm_suits(b: ll.IRBuilder, dtype: DType, a: Matrix, m_b: Matrix) -> ll.Value:
    """Whether C = A . B is better computed as (B^T . A^T)^T by small_gemm (transposed_gemm.py),
    where outer_gemm.py's kernel does not suit: A a transposed view (x.T . g), C narrow
    (NARROW_VECTORS vectors at most), the swapped product small_gemm's shape (rows n at least
    SMALL_ROWS, k x NR column blocks cacheable, A^T's rows not 1 KiB multiples apart)."""
    m, k, n = a.rows, a.cols, m_b.cols
    columns_adjacent = b.icmp_signed("==", a.row_stride, I64(1))
    narrow = b.and_(
        b.icmp_signed(">=", n, I64(SMALL_ROWS)), b.icmp_signed("<", n, I64(NARROW_VECTORS * lanes(dtype)))
    )
    column_block = b.mul(k, I64(tile_columns(dtype) * dtype.itemsize))
    shape = b.and_(
        b.icmp_signed(">=", m, I64(tile_columns(dtype))),
        b.icmp_signed("<=", column_block, I64(COLUMN_BLOCK_BYTES)),
    )
    spread = b.icmp_signed("!=", b.and_(a.byte_strides[1], I64(1023)), I64(0))
    return b.and_(b.and_(columns_adjacent, narrow), b.and_(shape, spread))


def narrow_gemm_suits(b: ll.IRBuilder, dtype: DType, a: Matrix, m_b: Matrix) -> ll.Value:
    """Whether the result is narrow (narrow_gemm.py), where small_gemm does not suit: 1 < n <
    NARROW_VECTORS vectors, at least MR rows, B's rows contiguous. (One column is gemv's: it
    vectorises along k, where this kernel would fill one lane of each vector.) The logistic
    regression's float64 products with AVX2 (600 x 784 . 784 x 10, its gradient's
    784 x 600 . 600 x 10; A in cache, one run each): BLAS 373 and 354 us, this kernel's
    three vectors 198 and 247."""
    m, n = a.rows, m_b.cols
    widest = NARROW_VECTORS * lanes(dtype)
    narrow = b.and_(b.icmp_signed(">", n, I64(1)), b.icmp_signed("<", n, I64(widest)))
    unit = b.icmp_signed("==", m_b.col_stride, I64(1))
    return b.and_(b.and_(narrow, unit), b.icmp_signed(">=", m, I64(tile_rows())))


def blas_dot(
    b: ll.IRBuilder,
    dtype: DType,
    routines: Routines,
    a: Matrix,
    m_b: Matrix,
    layouts: Layouts,
    sizes: tuple[ll.Value, ll.Value, ll.Value],
    output: ll.Value,
    scale: Scale | None = None,
) -> None:
    """The product through BLAS, for operands in a layout BLAS takes: gemv or gemm; with
    `scale` (alpha, beta), output = alpha * product + beta * output."""
    gemm = functools.partial(call_gemm, b, dtype, routines.gemm, a, m_b, *layouts, *sizes, output, scale)
    gemv_or(b, dtype, routines.gemv, a, m_b, layouts, sizes, output, gemm, scale)


def _packed_dot(
    b: ll.IRBuilder,
    dtype: DType,
    routines: Routines,
    a: Matrix,
    m_b: Matrix,
    sizes: tuple[ll.Value, ll.Value, ll.Value],
    output: ll.Value,
) -> None:
    """Operands in a layout BLAS does not take (a reversed view, broadcast rows) copied into
    contiguous buffers first: two copies cost far less than the product in plain loops. Where
    the buffers cannot be allocated, the plain loops."""
    from .context import IDENTITY

    m, n, k = sizes
    module = b.module
    malloc = module.globals.get("malloc") or ll.Function(module, ll.FunctionType(I8_PTR, [I64]), "malloc")
    free = module.globals.get("free") or ll.Function(module, ll.FunctionType(ll.VoidType(), [I8_PTR]), "free")
    packed, fitting = [], []
    for matrix, rows, cols in ((a, m, k), (m_b, k, n)):
        # A byte count past 2**63 (a huge broadcast view) would wrap to a small buffer: ask
        # for nothing then, and take the plain loops.
        count = b.smul_with_overflow(rows, cols)
        bytes_ = b.smul_with_overflow(b.extract_value(count, 0), I64(dtype.itemsize))
        wraps = b.or_(b.extract_value(count, 1), b.extract_value(bytes_, 1))
        size = b.select(
            b.icmp_signed(">", b.extract_value(bytes_, 0), I64(0)), b.extract_value(bytes_, 0), I64(1)
        )
        pointer = b.call(malloc, [b.select(wraps, I64(1), size)])
        packed.append((matrix, rows, cols, pointer))
        fitting.append(b.not_(wraps))
    null = ll.Constant(I8_PTR, None)
    allocated = b.and_(*(b.icmp_unsigned("!=", p, null) for *_, p in packed))
    allocated = b.and_(allocated, b.and_(*fitting))
    with b.if_else(allocated) as (copy, naive):
        with copy:
            contiguous = []
            for matrix, rows, cols, pointer in packed:
                source = ArrayRef(dtype, matrix.pointer, [rows, cols], matrix.byte_strides, (None, None))
                name = module.get_unique_name("dot.pack")
                emit_elementwise_loop(
                    b, name, [rows, cols], (None, None), [source], [(dtype, pointer)], IDENTITY
                )
                strides = [b.mul(cols, I64(dtype.itemsize)), I64(dtype.itemsize)]
                contiguous.append(
                    Matrix(b, ArrayRef(dtype, pointer, [rows, cols], strides, (None, None)), True)
                )
            left, right = contiguous
            row_major = ll.Constant(ll.IntType(1), 1)
            layouts = ((row_major, max_of(b, k, I64(1)), k), (row_major, max_of(b, n, I64(1)), n))
            blas_dot(b, dtype, routines, left, right, layouts, sizes, output)
        with naive:
            dot_loops(b, dtype, a, m_b, m, n, k, output)
    for *_, pointer in packed:
        b.call(free, [pointer])


def emit_batched_dot(builder: ll.IRBuilder, a: ArrayRef, b: ArrayRef, out: ArrayRef) -> None:
    """out[i] = a[i] . b[i] for each batch entry i: one product (gemm) per entry."""
    with counted_loop(builder, a.shape[0], "batch") as i:

        def entry(array: ArrayRef) -> ArrayRef:
            pointer = builder.gep(builder.bitcast(array.pointer, I8_PTR), [builder.mul(i, array.strides[0])])
            return ArrayRef(array.dtype, pointer, array.shape[1:], array.strides[1:], array.static_shape[1:])

        emit_dot(builder, entry(a), entry(b), entry(out).pointer)


def dot_loops(
    b: ll.IRBuilder,
    dtype: DType,
    a: Matrix,
    m_b: Matrix,
    m: ll.Value,
    n: ll.Value,
    k: ll.Value,
    output: ll.Value,
    scale: Scale | None = None,
) -> None:
    """output (m x n, contiguous) = a . b in plain loops; with `scale` (alpha, beta), output =
    alpha * a . b + beta * output (float dtypes)."""
    real = register_type(dtype)
    zero = ll.Constant(real, 0.0 if dtype.is_float else 0)
    total = b.alloca(real)  # outside the loops: an alloca in a loop grows the stack
    with counted_loop(b, m, "dot.i") as i:
        with counted_loop(b, n, "dot.j") as j:
            b.store(zero, total)
            with counted_loop(b, k, "dot.k") as p:
                x, y = a.element(b, i, p), m_b.element(b, p, j)
                if dtype.is_float:
                    value = b.fadd(b.load(total), b.fmul(x, y))
                elif dtype is DType.BOOL:
                    value = b.or_(b.load(total), b.and_(x, y))
                else:
                    value = b.add(b.load(total), b.mul(x, y))
                b.store(value, total)
            target = b.gep(b.bitcast(output, I8_PTR), [b.mul(b.add(b.mul(i, n), j), I64(dtype.itemsize))])
            value = b.load(total)
            if scale is not None:
                old = b.load(b.bitcast(target, real.as_pointer()))
                value = b.fadd(b.fmul(scale[0], value), b.fmul(scale[1], old))
            store_element(b, dtype, value, target)
