"""Transposing copies in explicit vectors: target (cols x rows) = source (rows x cols)^T, for
the packing of small_gemm.py's A and the convolutions' col^T (conv_tiles.py).

A scalar transposing loop moves about one element per cycle and LLVM does not vectorise it
(one side is always strided). Here the matrix goes in square blocks of n x n (n a power of
two, one vector per row): n vector loads, log2(n) rounds of interleaving shuffles, n vector
stores. One round maps row i and row i + n/2 to rows 2i and 2i + 1 by interleaving their
first halves and their second halves; on an element's position (row bits, column bits) that
is a rotation by one bit, so log2(n) rounds swap the row and the column. The rows and
columns past the last whole block are copied element by element.
"""

from __future__ import annotations

from ..ir import DType
from . import llvm_ir as ll
from .control import counted_loop
from .types import I32, I64, load_element, register_type, store_element


def emit_transpose(
    b: ll.IRBuilder,
    dtype: DType,
    source: ll.Value,
    target: ll.Value,
    shape: tuple[ll.Value, ll.Value],
    strides: tuple[ll.Value, ll.Value],
    n: int,
) -> None:
    """target[c][r] = source[r][c] for r < rows, c < cols: byte pointers, `strides` the
    source's and the target's row strides in bytes (columns adjacent on both sides), in
    blocks of n x n."""
    assert n >= 2 and n & (n - 1) == 0, n
    rows, cols = shape
    whole_rows = b.mul(b.sdiv(rows, I64(n)), I64(n))
    whole_cols = b.mul(b.sdiv(cols, I64(n)), I64(n))
    with counted_loop(b, b.sdiv(rows, I64(n)), "transpose.rows") as block:
        first = b.mul(block, I64(n))
        with counted_loop(b, b.sdiv(cols, I64(n)), "transpose.block") as column_block:
            _block(b, dtype, (source, target), (first, b.mul(column_block, I64(n))), strides, n)
        _elements(b, dtype, (source, target), ((first, b.add(first, I64(n))), (whole_cols, cols)), strides)
    _elements(b, dtype, (source, target), ((whole_rows, rows), (I64(0), cols)), strides)


def _block(
    b: ll.IRBuilder,
    dtype: DType,
    pointers: tuple[ll.Value, ll.Value],
    corner: tuple[ll.Value, ll.Value],
    strides: tuple[ll.Value, ll.Value],
    n: int,
) -> None:
    """The n x n block whose first element is source[row][col]."""
    source, target = pointers
    row, col = corner
    size = I64(dtype.itemsize)
    vector = ll.VectorType(register_type(dtype), n)
    vectors = []
    for i in range(n):
        address = b.gep(source, [b.add(b.mul(b.add(row, I64(i)), strides[0]), b.mul(col, size))])
        vectors.append(b.load(b.bitcast(address, vector.as_pointer()), align=dtype.itemsize))
    half = n // 2
    low = ll.Constant(ll.VectorType(I32, n), [I32(k // 2 + (k % 2) * n) for k in range(n)])
    high = ll.Constant(ll.VectorType(I32, n), [I32(half + k // 2 + (k % 2) * n) for k in range(n)])
    for _ in range(n.bit_length() - 1):
        rounds = []
        for i in range(half):
            rounds.append(b.shuffle_vector(vectors[i], vectors[i + half], low))
            rounds.append(b.shuffle_vector(vectors[i], vectors[i + half], high))
        vectors = rounds
    for j, value in enumerate(vectors):
        address = b.gep(target, [b.add(b.mul(b.add(col, I64(j)), strides[1]), b.mul(row, size))])
        b.store(value, b.bitcast(address, vector.as_pointer()), align=dtype.itemsize)


def _elements(
    b: ll.IRBuilder,
    dtype: DType,
    pointers: tuple[ll.Value, ll.Value],
    spans: tuple[tuple[ll.Value, ll.Value], tuple[ll.Value, ll.Value]],
    strides: tuple[ll.Value, ll.Value],
) -> None:
    """target[c][r] = source[r][c] for r and c in their [start, stop) spans, one by one."""
    source, target = pointers
    (row_start, row_stop), (col_start, col_stop) = spans
    size = I64(dtype.itemsize)
    with counted_loop(b, row_stop, "transpose.row", start=row_start) as r:
        line = b.gep(source, [b.mul(r, strides[0])])
        with counted_loop(b, col_stop, "transpose.col", start=col_start) as c:
            value = load_element(b, dtype, b.gep(line, [b.mul(c, size)]))
            store_element(b, dtype, value, b.gep(target, [b.add(b.mul(c, strides[1]), b.mul(r, size))]))
