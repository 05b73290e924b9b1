"""Products small_gemm takes through a transposed copy (linalg.py chooses them).

- `small_gemm_on_b_transposed`: B a transposed view (x . W^T): its copy with rows contiguous.
- `small_gemm_transposed`: A a transposed view and C narrow (the weight gradient x^T . g of a
  10-class layer): C^T = B^T . A^T, whose B is then A^T with its rows contiguous, into a
  scratch C^T, transposed into C. The narrow kernel (narrow_gemm.py) reads such an A a few
  adjacent values per row of x, each row a cache line it reads again for the next rows of
  C; here small_gemm's column tiles read x's rows a cache line at a time. The logistic
  regression's 784 x 600 . 600 x 10 with its update (W - 0.1 * x^T . g, x in cache): float64
  270-325 -> 238-241 us, float32 163-165 -> 129-131 us (x from memory: float64 492 -> 370).
"""

from __future__ import annotations

from ..ir import DType
from . import llvm_ir as ll
from .blas_calls import Matrix
from .gemm import entry_alloca
from .transpose import emit_transpose
from .types import I8_PTR, I64, declare


def small_gemm_on_b_transposed(
    b: ll.IRBuilder, dtype: DType, small_gemm: ll.Value, arguments: list[ll.Value], m_b: Matrix
) -> ll.Value:
    """small_gemm on a copy of B (k x n, its columns contiguous) with contiguous rows, in
    explicit-vector transposing blocks (transpose.py); false when the copy cannot be
    allocated (BLAS then takes the product). The copy's rows are padded past a multiple
    of 1 KiB apart (see linalg._small_gemm_suits)."""
    k, n = m_b.rows, m_b.cols
    row_bytes = b.mul(n, I64(dtype.itemsize))
    aliased = b.icmp_signed("==", b.and_(row_bytes, I64(1023)), I64(0))
    ldb = b.add(row_bytes, b.select(aliased, I64(64), I64(0)))
    copy = b.call(declare(b.module, "malloc", I8_PTR, [I64]), [b.mul(k, ldb)])
    done = entry_alloca(b, ll.IntType(1))
    b.store(ll.Constant(ll.IntType(1), 0), done)
    with b.if_then(b.icmp_unsigned("!=", copy, ll.Constant(I8_PTR, None))):
        source = b.bitcast(m_b.pointer, I8_PTR)
        emit_transpose(b, dtype, source, copy, (n, k), (m_b.byte_strides[1], ldb), 8)
        packed = list(arguments)
        packed[3], packed[4] = copy, ldb
        b.store(b.call(small_gemm, packed), done)
        b.call(declare(b.module, "free", ll.VoidType(), [I8_PTR]), [copy])
    return b.load(done)


def small_gemm_transposed(
    b: ll.IRBuilder, dtype: DType, small_gemm: ll.Value, operands: tuple[Matrix, Matrix, ll.Value, ll.Value]
) -> ll.Value:
    """C (`output`, m x n, rows contiguous) = A . B computed as C^T = B^T . A^T by small_gemm
    into a scratch C^T, then transposed into C; false when the scratch or small_gemm's
    copy cannot be allocated (BLAS then takes the product). `operands`: A, B, the output
    and the thread count."""
    a, m_b, output, threads = operands
    m, k, n = a.rows, a.cols, m_b.cols
    size = I64(dtype.itemsize)
    scratch = b.call(declare(b.module, "malloc", I8_PTR, [I64]), [b.mul(b.mul(m, n), size)])
    done = entry_alloca(b, ll.IntType(1))
    b.store(ll.Constant(ll.IntType(1), 0), done)
    with b.if_then(b.icmp_unsigned("!=", scratch, ll.Constant(I8_PTR, None))):
        # B^T's rows are B's columns: row stride B's column stride, column stride its row stride
        b_rows, b_columns = m_b.byte_strides
        swapped = [b.bitcast(m_b.pointer, I8_PTR), b_columns, b_rows]
        swapped += [b.bitcast(a.pointer, I8_PTR), a.byte_strides[1], scratch, n, m, k, threads]
        made = b.call(small_gemm, swapped)
        with b.if_then(made):
            target = b.bitcast(output, I8_PTR)
            emit_transpose(b, dtype, scratch, target, (n, m), (b.mul(m, size), b.mul(n, size)), 8)
        b.store(made, done)
        b.call(declare(b.module, "free", ll.VoidType(), [I8_PTR]), [scratch])
    return b.load(done)
