"""Matrix products: BLAS gemm for float32/float64 when the layouts allow, loops otherwise.

The BLAS routine is reached through a global function pointer per dtype
(`tc_blas_dgemm`, `tc_blas_sgemm`) that the runtime fills after loading the
code, so object code holds no process-specific address and can be cached.
Row-major C = A B is computed as the column-major C^T = B^T A^T; an operand
with unit stride along either axis is passed transposed or not; any other
layout (or no BLAS) takes a plain loop nest.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from llvmlite import ir as ll

from ..ir import DType
from .control import counted_loop
from .loops import emit_elementwise_loop
from .nest import ArrayRef
from .parallel import module_global
from .small_gemm import SMALL_ROWS, tile_columns, tile_rows
from .support import library_function
from .symbols import BLAS_GLOBALS, GEMV_GLOBALS, THREADS_GLOBAL
from .types import BLAS_INT, I8, I8_PTR, I64, load_element, register_type, store_element

SMALL_SIDE = 64  # m or k at most this: tc's own kernel (small_gemm.py)


def _blas_pointer(module: ll.Module, dtype: DType, table: dict[DType, str] = BLAS_GLOBALS) -> ll.Value:
    name = table[dtype]
    glob = module.globals.get(name)
    if glob is None:
        glob = ll.GlobalVariable(module, I8_PTR, name)
        glob.initializer = ll.Constant(I8_PTR, None)
    return glob


class _Matrix:
    """An operand seen as a rows x cols matrix with element strides."""

    def __init__(self, b: ll.IRBuilder, array: ArrayRef, as_row: bool) -> None:
        size = I64(array.dtype.itemsize)
        self.pointer = array.pointer
        self.array = array
        if len(array.shape) == 2:
            self.rows, self.cols = array.shape
            self.row_stride, self.col_stride = (b.sdiv(s, size) for s in array.strides)
            self.byte_strides = list(array.strides)
        else:
            (length,), (stride,) = array.shape, array.strides
            element = b.sdiv(stride, size)
            if as_row:  # a vector on the left is a 1 x k matrix
                self.rows, self.cols, self.row_stride, self.col_stride = I64(1), length, I64(0), element
                self.byte_strides = [I64(0), stride]
            else:  # on the right, a k x 1 matrix
                self.rows, self.cols, self.row_stride, self.col_stride = length, I64(1), element, I64(0)
                self.byte_strides = [stride, I64(0)]

    def layouts(self, b: ll.IRBuilder) -> tuple[ll.Value, ll.Value, ll.Value, ll.Value]:
        """(row-major usable, its leading dimension, column-major usable, its leading dimension)."""
        one = I64(1)
        rows_le_1 = b.icmp_signed("<=", self.rows, one)
        cols_le_1 = b.icmp_signed("<=", self.cols, one)
        cols_min = _max(b, self.cols, one)
        rows_min = _max(b, self.rows, one)
        row_major = b.and_(
            b.or_(cols_le_1, b.icmp_signed("==", self.col_stride, one)),
            b.or_(rows_le_1, b.icmp_signed(">=", self.row_stride, cols_min)),
        )
        row_ld = b.select(rows_le_1, cols_min, self.row_stride)
        col_major = b.and_(
            b.or_(rows_le_1, b.icmp_signed("==", self.row_stride, one)),
            b.or_(cols_le_1, b.icmp_signed(">=", self.col_stride, rows_min)),
        )
        col_ld = b.select(cols_le_1, rows_min, self.col_stride)
        return row_major, row_ld, col_major, col_ld

    def element(self, b: ll.IRBuilder, row: ll.Value, col: ll.Value) -> ll.Value:
        offset = b.add(b.mul(row, self.byte_strides[0]), b.mul(col, self.byte_strides[1]))
        return load_element(b, self.array.dtype, b.gep(b.bitcast(self.pointer, I8_PTR), [offset]))


def _max(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed(">", x, y), x, y)


def emit_dot(builder: ll.IRBuilder, a_array: ArrayRef, b_array: ArrayRef, output: ll.Value) -> None:
    """output (contiguous, row-major) = a . b: a call to the module's one product function of
    the dtype (the layout checks, gemv or gemm, packing, plain loops: generated once, not at
    every product, which LLVM would otherwise optimise nine times over in a train step)."""
    b = builder
    a, m_b = _Matrix(b, a_array, as_row=True), _Matrix(b, b_array, as_row=False)
    arguments = []
    for matrix in (a, m_b):
        arguments += [b.bitcast(matrix.pointer, I8_PTR), matrix.rows, matrix.cols, *matrix.byte_strides]
    b.call(_dot_function(b.module, a_array.dtype), [*arguments, b.bitcast(output, I8_PTR)])


def _dot_function(module: ll.Module, dtype: DType) -> ll.Function:
    """void tc_dot_<dtype>(a, rows, cols, row stride, col stride (bytes), the same of b, out)."""
    name = f"tc_dot_{dtype.value}"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    matrix = [I8_PTR, I64, I64, I64, I64]
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [*matrix, *matrix, I8_PTR]), name)
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    a_args, b_args, output = fn.args[:5], fn.args[5:10], fn.args[10]
    operands = [
        ArrayRef(dtype, p, [rows, cols], [rs, cs], (None, None)) for p, rows, cols, rs, cs in (a_args, b_args)
    ]
    _emit_dot_body(b, operands[0], operands[1], output)
    b.ret_void()
    return fn


def _emit_dot_body(builder: ll.IRBuilder, a_array: ArrayRef, b_array: ArrayRef, output: ll.Value) -> None:
    """output (contiguous, row-major) = a . b, for 2-d operands."""
    b = builder
    dtype = a_array.dtype
    a = _Matrix(b, a_array, as_row=True)
    m_b = _Matrix(b, b_array, as_row=False)
    m, k, n = a.rows, a.cols, m_b.cols
    if dtype in BLAS_GLOBALS:
        routine = b.load(_blas_pointer(b.module, dtype))
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
        layouts = ((a_rm, a_rld, a_cld), (b_rm, b_rld, b_cld))
        with b.if_else(usable) as (blas, loops):
            with blas:
                done = b.alloca(ll.IntType(1))
                b.store(ll.Constant(ll.IntType(1), 0), done)
                arguments = [b.bitcast(a.pointer, I8_PTR), *a.byte_strides]
                arguments += [b.bitcast(m_b.pointer, I8_PTR), m_b.byte_strides[0]]
                arguments += [
                    b.bitcast(output, I8_PTR),
                    m,
                    n,
                    k,
                    b.load(module_global(b.module, THREADS_GLOBAL, I64, I64(1))),
                ]
                small_gemm, has_small = library_function(b, f"tc_small_gemm_{dtype.value}")
                narrow_gemm, has_narrow = library_function(b, f"tc_narrow_gemm_{dtype.value}")
                small = b.and_(has_small, _small_gemm_suits(b, dtype, a, m_b))
                with b.if_else(small) as (own, other):
                    with own:
                        b.store(b.call(small_gemm, arguments), done)
                    with other:
                        with b.if_then(b.and_(has_narrow, _narrow_gemm_suits(b, dtype, a, m_b))):
                            b.call(narrow_gemm, arguments)
                            b.store(ll.Constant(ll.IntType(1), 1), done)
                with b.if_then(b.not_(b.load(done))):  # not suited, or no memory for its copy of A
                    _blas_dot(b, dtype, routine, a, m_b, layouts, (m, n, k), output)
            with loops:
                packable = b.and_(b.icmp_unsigned("!=", routine, ll.Constant(I8_PTR, None)), fits)
                with b.if_else(packable) as (pack, naive):
                    with pack:
                        _packed_dot(b, dtype, routine, a, m_b, (m, n, k), output)
                    with naive:
                        _loops(b, dtype, a, m_b, m, n, k, output)
    else:
        _loops(b, dtype, a, m_b, m, n, k, output)


def _small_gemm_suits(b: ll.IRBuilder, dtype: DType, a: _Matrix, m_b: _Matrix) -> ll.Value:
    """Whether tc's own kernel (small_gemm.py) beats BLAS here (bench/gemm.py): B's rows
    contiguous, at least one tile of columns and of rows, and a small side (m or k) that
    makes BLAS's packing cost as much as the arithmetic."""
    m, k, n = a.rows, a.cols, m_b.cols
    limit = I64(SMALL_SIDE)
    small = b.or_(b.icmp_signed("<=", m, limit), b.icmp_signed("<=", k, limit))
    fits = b.and_(b.icmp_signed(">=", n, I64(tile_columns(dtype))), b.icmp_signed(">=", m, I64(SMALL_ROWS)))
    unit = b.icmp_signed("==", m_b.col_stride, I64(1))
    # B's rows a multiple of 1 KiB apart all fall into a few sets of the L1 cache, which
    # then evicts the column block before the next row block reads it again: BLAS packs B.
    spread = b.icmp_signed("!=", b.and_(m_b.byte_strides[0], I64(1023)), I64(0))
    return b.and_(b.and_(small, fits), b.and_(unit, spread))


def _narrow_gemm_suits(b: ll.IRBuilder, dtype: DType, a: _Matrix, m_b: _Matrix) -> ll.Value:
    """Whether the result is narrower than small_gemm's tile (narrow_gemm.py): 1 < n < NR,
    at least MR rows, B's rows contiguous. (One column is gemv's: it vectorises along k,
    where this kernel would fill one lane of each vector.)"""
    m, n = a.rows, m_b.cols
    narrow = b.and_(b.icmp_signed(">", n, I64(1)), b.icmp_signed("<", n, I64(tile_columns(dtype))))
    unit = b.icmp_signed("==", m_b.col_stride, I64(1))
    return b.and_(b.and_(narrow, unit), b.icmp_signed(">=", m, I64(tile_rows())))


def _blas_dot(
    b: ll.IRBuilder,
    dtype: DType,
    routine: ll.Value,
    a: _Matrix,
    m_b: _Matrix,
    layouts: tuple[tuple[ll.Value, ll.Value, ll.Value], tuple[ll.Value, ll.Value, ll.Value]],
    sizes: tuple[ll.Value, ll.Value, ll.Value],
    output: ll.Value,
) -> None:
    """The product through BLAS, for operands in a layout BLAS takes: gemv or gemm."""
    gemm = functools.partial(_call_gemm, b, dtype, routine, a, m_b, *layouts, *sizes, output)
    _gemv_or(b, dtype, a, m_b, layouts, sizes, output, gemm)


def _packed_dot(
    b: ll.IRBuilder,
    dtype: DType,
    routine: ll.Value,
    a: _Matrix,
    m_b: _Matrix,
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
                    _Matrix(b, ArrayRef(dtype, pointer, [rows, cols], strides, (None, None)), True)
                )
            left, right = contiguous
            row_major = ll.Constant(ll.IntType(1), 1)
            layouts = ((row_major, _max(b, k, I64(1)), k), (row_major, _max(b, n, I64(1)), n))
            _blas_dot(b, dtype, routine, left, right, layouts, sizes, output)
        with naive:
            _loops(b, dtype, a, m_b, m, n, k, output)
    for *_, pointer in packed:
        b.call(free, [pointer])


def emit_batched_dot(builder: ll.IRBuilder, a: ArrayRef, b: ArrayRef, out: ArrayRef) -> None:
    """out[i] = a[i] . b[i] for each batch entry i: one product (gemm) per entry."""
    with counted_loop(builder, a.shape[0], "batch") as i:

        def entry(array: ArrayRef) -> ArrayRef:
            pointer = builder.gep(builder.bitcast(array.pointer, I8_PTR), [builder.mul(i, array.strides[0])])
            return ArrayRef(array.dtype, pointer, array.shape[1:], array.strides[1:], array.static_shape[1:])

        emit_dot(builder, entry(a), entry(b), entry(out).pointer)


def _gemv_or(
    b: ll.IRBuilder,
    dtype: DType,
    a: _Matrix,
    m_b: _Matrix,
    layouts: tuple[tuple[ll.Value, ll.Value, ll.Value], tuple[ll.Value, ll.Value, ll.Value]],
    sizes: tuple[ll.Value, ll.Value, ll.Value],
    output: ll.Value,
    gemm: Callable[[], None],
) -> None:
    """A product with one row (or one column) as gemv, when the vector's step is positive and
    k > 0 (gemv leaves y untouched when k is 0); otherwise `gemm()`."""
    (a_rm, a_rld, a_cld), (b_rm, b_rld, b_cld) = layouts
    m, n, k = sizes
    one, has_k = I64(1), b.icmp_signed(">", k, I64(0))
    row = b.and_(b.and_(b.icmp_signed("==", m, one), has_k), b.icmp_signed(">", a.col_stride, I64(0)))
    col = b.and_(b.and_(b.icmp_signed("==", n, one), has_k), b.icmp_signed(">", m_b.row_stride, I64(0)))
    routine = b.load(_blas_pointer(b.module, dtype, GEMV_GLOBALS))
    usable = b.icmp_unsigned("!=", routine, ll.Constant(I8_PTR, None))
    with b.if_else(b.and_(usable, row)) as (vector_left, rest):
        with vector_left:  # y(n) = B^T a: B row-major is Fortran's n x k matrix
            trans = b.select(b_rm, I8(ord("N")), I8(ord("T")))
            rows, cols = b.select(b_rm, n, k), b.select(b_rm, k, n)
            ld = b.select(b_rm, b_rld, b_cld)
            _call_gemv(
                b, dtype, routine, trans, (rows, cols), (m_b.pointer, ld), (a.pointer, a.col_stride), output
            )
        with rest:
            with b.if_else(b.and_(usable, col)) as (vector_right, general):
                with vector_right:  # y(m) = A b: A row-major is Fortran's k x m matrix, transposed
                    trans = b.select(a_rm, I8(ord("T")), I8(ord("N")))
                    rows, cols = b.select(a_rm, k, m), b.select(a_rm, m, k)
                    ld = b.select(a_rm, a_rld, a_cld)
                    vector = (m_b.pointer, m_b.row_stride)
                    _call_gemv(b, dtype, routine, trans, (rows, cols), (a.pointer, ld), vector, output)
                with general:
                    gemm()


def _call_gemv(
    b: ll.IRBuilder,
    dtype: DType,
    routine: ll.Value,
    trans: ll.Value,
    shape: tuple[ll.Value, ll.Value],
    matrix: tuple[ll.Value, ll.Value],
    vector: tuple[ll.Value, ll.Value],
    output: ll.Value,
) -> None:
    """Fortran ?gemv(trans, m, n, 1, A, lda, x, incx, 0, y, 1): every argument by reference."""
    real, pointer = register_type(dtype), register_type(dtype).as_pointer()

    def by_reference(value: ll.Value, kind: ll.Type) -> ll.Value:
        slot = b.alloca(kind)
        b.store(value, slot)
        return slot

    def integer(value: ll.Value) -> ll.Value:
        return by_reference(value, BLAS_INT)

    args = [
        by_reference(trans, I8),
        integer(shape[0]),
        integer(shape[1]),
        by_reference(ll.Constant(real, 1.0), real),
        b.bitcast(matrix[0], pointer),
        integer(_max(b, matrix[1], I64(1))),
        b.bitcast(vector[0], pointer),
        integer(vector[1]),
        by_reference(ll.Constant(real, 0.0), real),
        b.bitcast(output, pointer),
        integer(I64(1)),
    ]
    fn_type = ll.FunctionType(ll.VoidType(), [arg.type for arg in args])
    b.call(b.bitcast(routine, fn_type.as_pointer()), args)


def _call_gemm(
    b: ll.IRBuilder,
    dtype: DType,
    routine: ll.Value,
    a: _Matrix,
    m_b: _Matrix,
    a_layout: tuple[ll.Value, ll.Value, ll.Value],
    b_layout: tuple[ll.Value, ll.Value, ll.Value],
    m: ll.Value,
    n: ll.Value,
    k: ll.Value,
    output: ll.Value,
) -> None:
    real = register_type(dtype)

    def char(flag: ll.Value) -> ll.Value:  # 'N' when row-major (already the transpose BLAS wants)
        slot = b.alloca(I8)
        b.store(b.select(flag, I8(ord("N")), I8(ord("T"))), slot)
        return slot

    def integer(value: ll.Value) -> ll.Value:
        slot = b.alloca(BLAS_INT)
        b.store(value, slot)
        return slot

    def scalar(value: float) -> ll.Value:
        slot = b.alloca(real)
        b.store(ll.Constant(real, value), slot)
        return slot

    (a_rm, a_rld, a_cld), (b_rm, b_rld, b_cld) = a_layout, b_layout
    pointer = real.as_pointer()
    args = [
        char(b_rm),
        char(a_rm),
        integer(n),
        integer(m),
        integer(k),
        scalar(1.0),
        b.bitcast(m_b.pointer, pointer),
        integer(b.select(b_rm, b_rld, b_cld)),
        b.bitcast(a.pointer, pointer),
        integer(b.select(a_rm, a_rld, a_cld)),
        scalar(0.0),
        b.bitcast(output, pointer),
        integer(_max(b, n, I64(1))),
    ]
    fn_type = ll.FunctionType(ll.VoidType(), [arg.type for arg in args])
    b.call(b.bitcast(routine, fn_type.as_pointer()), args)


def _loops(
    b: ll.IRBuilder,
    dtype: DType,
    a: _Matrix,
    m_b: _Matrix,
    m: ll.Value,
    n: ll.Value,
    k: ll.Value,
    output: ll.Value,
) -> None:
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
            store_element(b, dtype, b.load(total), target)
