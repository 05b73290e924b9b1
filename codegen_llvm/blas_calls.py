"""BLAS's view of tc's arrays and the Fortran calls to it (tc_dot, linalg.py, makes them).

`Matrix` is an operand seen as a rows x cols matrix with element strides, and says in which
layouts BLAS can take it; `gemv_or` and `call_gemm` emit ?gemv and ?gemm with every argument
by reference, as Fortran passes them.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir import DType
from . import llvm_ir as ll
from .nest import ArrayRef
from .types import BLAS_INT, I8, I8_PTR, I64, load_element, register_type


class Matrix:
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
        cols_min = max_of(b, self.cols, one)
        rows_min = max_of(b, self.rows, one)
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


# (alpha, beta) of a product that updates its output: alpha * product + beta * output,
# values of the dtype's register type.
Scale = tuple[ll.Value, ll.Value]


def max_of(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed(">", x, y), x, y)


def gemv_or(
    b: ll.IRBuilder,
    dtype: DType,
    routine: ll.Value,
    a: Matrix,
    m_b: Matrix,
    layouts: tuple[tuple[ll.Value, ll.Value, ll.Value], tuple[ll.Value, ll.Value, ll.Value]],
    sizes: tuple[ll.Value, ll.Value, ll.Value],
    output: ll.Value,
    gemm: Callable[[], None],
    scale: Scale | None = None,
) -> None:
    """A product with one row (or one column) as gemv, when the vector's step is positive and
    k > 0 (gemv leaves y untouched when k is 0); otherwise `gemm()`. `scale`: see call_gemm."""
    (a_rm, a_rld, a_cld), (b_rm, b_rld, b_cld) = layouts
    m, n, k = sizes
    one, has_k = I64(1), b.icmp_signed(">", k, I64(0))
    row = b.and_(b.and_(b.icmp_signed("==", m, one), has_k), b.icmp_signed(">", a.col_stride, I64(0)))
    col = b.and_(b.and_(b.icmp_signed("==", n, one), has_k), b.icmp_signed(">", m_b.row_stride, I64(0)))
    usable = b.icmp_unsigned("!=", routine, ll.Constant(I8_PTR, None))
    with b.if_else(b.and_(usable, row)) as (vector_left, rest):
        with vector_left:  # y(n) = B^T a: B row-major is Fortran's n x k matrix
            trans = b.select(b_rm, I8(ord("N")), I8(ord("T")))
            rows, cols = b.select(b_rm, n, k), b.select(b_rm, k, n)
            ld = b.select(b_rm, b_rld, b_cld)
            vector = (a.pointer, a.col_stride)
            _call_gemv(b, dtype, routine, trans, (rows, cols), (m_b.pointer, ld), vector, output, scale)
        with rest:
            with b.if_else(b.and_(usable, col)) as (vector_right, general):
                with vector_right:  # y(m) = A b: A row-major is Fortran's k x m matrix, transposed
                    trans = b.select(a_rm, I8(ord("T")), I8(ord("N")))
                    rows, cols = b.select(a_rm, k, m), b.select(a_rm, m, k)
                    ld = b.select(a_rm, a_rld, a_cld)
                    vector = (m_b.pointer, m_b.row_stride)
                    _call_gemv(b, dtype, routine, trans, (rows, cols), (a.pointer, ld), vector, output, scale)
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
    scale: Scale | None = None,
) -> None:
    """Fortran ?gemv(trans, m, n, alpha, A, lda, x, incx, beta, y, 1): every argument by
    reference; alpha 1 and beta 0 without `scale`."""
    real, pointer = register_type(dtype), register_type(dtype).as_pointer()
    alpha, beta = scale or (ll.Constant(real, 1.0), ll.Constant(real, 0.0))

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
        by_reference(alpha, real),
        b.bitcast(matrix[0], pointer),
        integer(max_of(b, matrix[1], I64(1))),
        b.bitcast(vector[0], pointer),
        integer(vector[1]),
        by_reference(beta, real),
        b.bitcast(output, pointer),
        integer(I64(1)),
    ]
    fn_type = ll.FunctionType(ll.VoidType(), [arg.type for arg in args])
    b.call(b.bitcast(routine, fn_type.as_pointer()), args)


def call_gemm(
    b: ll.IRBuilder,
    dtype: DType,
    routine: ll.Value,
    a: Matrix,
    m_b: Matrix,
    a_layout: tuple[ll.Value, ll.Value, ll.Value],
    b_layout: tuple[ll.Value, ll.Value, ll.Value],
    m: ll.Value,
    n: ll.Value,
    k: ll.Value,
    output: ll.Value,
    scale: Scale | None = None,
) -> None:
    """Fortran ?gemm of row-major operands (as the column-major C^T = B^T A^T): alpha 1 and
    beta 0, or with `scale` its (alpha, beta): C = alpha A B + beta C."""
    real = register_type(dtype)
    alpha, beta = scale or (ll.Constant(real, 1.0), ll.Constant(real, 0.0))

    def char(flag: ll.Value) -> ll.Value:  # 'N' when row-major (already the transpose BLAS wants)
        slot = b.alloca(I8)
        b.store(b.select(flag, I8(ord("N")), I8(ord("T"))), slot)
        return slot

    def integer(value: ll.Value) -> ll.Value:
        slot = b.alloca(BLAS_INT)
        b.store(value, slot)
        return slot

    def scalar(value: ll.Value) -> ll.Value:
        slot = b.alloca(real)
        b.store(value, slot)
        return slot

    (a_rm, a_rld, a_cld), (b_rm, b_rld, b_cld) = a_layout, b_layout
    pointer = real.as_pointer()
    args = [
        char(b_rm),
        char(a_rm),
        integer(n),
        integer(m),
        integer(k),
        scalar(alpha),
        b.bitcast(m_b.pointer, pointer),
        integer(b.select(b_rm, b_rld, b_cld)),
        b.bitcast(a.pointer, pointer),
        integer(b.select(a_rm, a_rld, a_cld)),
        scalar(beta),
        b.bitcast(output, pointer),
        integer(max_of(b, n, I64(1))),
    ]
    fn_type = ll.FunctionType(ll.VoidType(), [arg.type for arg in args])
    b.call(b.bitcast(routine, fn_type.as_pointer()), args)
