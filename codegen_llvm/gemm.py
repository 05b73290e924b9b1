"""Dense building blocks for the convolution lowerings: a row-major gemm, packing, zeroing.

`emit_gemm` computes C = op(A) op(B) (+ C) on C-contiguous matrices with OpenBLAS's
gemm, reached through the same per-dtype global function pointer as tx.dot's
(linalg.BLAS_GLOBALS, filled by the runtime after loading), as the column-major
C^T = op(B)^T op(A)^T; without BLAS (or with a size past 2^31) a plain loop nest.
`emit_pack` copies a strided array of any rank into a C-contiguous buffer, and
`emit_zero` clears a contiguous one.
"""

from __future__ import annotations

from typing import NamedTuple

from ..ir import DType
from . import llvm_ir as ll
from .control import counted_loop
from .nest import ArrayRef
from .symbols import BLAS_GLOBALS
from .types import BLAS_INT, I8, I8_PTR, I64, load_element, register_type, store_element


class Operand(NamedTuple):
    """A C-contiguous matrix operand of gemm: its pointer (i8*) and whether op() transposes
    it; `rows x cols` is its stored shape."""

    pointer: ll.Value
    transposed: bool


def _blas(module: ll.Module, dtype: DType) -> ll.Value:
    name = BLAS_GLOBALS[dtype]
    glob = module.globals.get(name)
    if glob is None:
        glob = ll.GlobalVariable(module, I8_PTR, name)
        glob.initializer = ll.Constant(I8_PTR, None)
    return glob


def emit_gemm(
    b: ll.IRBuilder,
    dtype: DType,
    a: Operand,
    bm: Operand,
    c: ll.Value,
    mnk: tuple[ll.Value, ll.Value, ll.Value],
    accumulate: bool,
) -> None:
    """c (m x n) = op(a) (m x k) . op(bm) (k x n), plus c itself if `accumulate`."""
    m, n, k = mnk
    zero = I64(0)
    sizes = b.and_(b.icmp_signed(">", m, zero), b.icmp_signed(">", n, zero))
    with b.if_else(b.and_(sizes, b.icmp_signed(">", k, zero))) as (work, empty):
        with work:
            routine = b.load(_blas(b.module, dtype))
            limit = I64(2**31 - 1)
            fits = b.and_(
                b.icmp_signed("<", m, limit),
                b.and_(b.icmp_signed("<", n, limit), b.icmp_signed("<", k, limit)),
            )
            usable = b.and_(fits, b.icmp_unsigned("!=", routine, ll.Constant(I8_PTR, None)))
            with b.if_else(usable) as (blas, loops):
                with blas:
                    _call(b, dtype, routine, a, bm, c, mnk, accumulate)
                with loops:
                    _loops(b, dtype, a, bm, c, mnk, accumulate)
        with empty:  # no product to add (k = 0), or nothing to write: BLAS is not asked
            if not accumulate:
                emit_zero(b, dtype, c, b.mul(m, n))


def _call(
    b: ll.IRBuilder,
    dtype: DType,
    routine: ll.Value,
    a: Operand,
    bm: Operand,
    c: ll.Value,
    mnk: tuple[ll.Value, ll.Value, ll.Value],
    accumulate: bool,
) -> None:
    m, n, k = mnk
    real = register_type(dtype)

    def slot(value: ll.Value, kind: ll.Type) -> ll.Value:
        place = entry_alloca(b, kind)
        b.store(value, place)
        return place

    def integer(value: ll.Value) -> ll.Value:
        return slot(at_least_1(b, value), BLAS_INT)

    # a row-major op(A) (m x k) is the column-major A^T: 'N' when not transposed, leading
    # dimension its stored row length (k, or m when stored transposed)
    lda = m if a.transposed else k
    ldb = k if bm.transposed else n
    pointer = real.as_pointer()
    args = [
        slot(I8(ord("T" if bm.transposed else "N")), I8),
        slot(I8(ord("T" if a.transposed else "N")), I8),
        integer(n),
        integer(m),
        integer(k),
        slot(ll.Constant(real, 1.0), real),
        b.bitcast(bm.pointer, pointer),
        integer(ldb),
        b.bitcast(a.pointer, pointer),
        integer(lda),
        slot(ll.Constant(real, 1.0 if accumulate else 0.0), real),
        b.bitcast(c, pointer),
        integer(n),
    ]
    fn_type = ll.FunctionType(ll.VoidType(), [arg.type for arg in args])
    b.call(b.bitcast(routine, fn_type.as_pointer()), args)


def entry_alloca(b: ll.IRBuilder, kind: ll.Type) -> ll.Value:
    """A stack slot in the function's entry block: one inside a loop would grow the stack."""
    with b.goto_entry_block():
        return b.alloca(kind)


def at_least_1(b: ll.IRBuilder, value: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed("<", value, I64(1)), I64(1), value)


def _loops(
    b: ll.IRBuilder,
    dtype: DType,
    a: Operand,
    bm: Operand,
    c: ll.Value,
    mnk: tuple[ll.Value, ll.Value, ll.Value],
    accumulate: bool,
) -> None:
    m, n, k = mnk
    size = I64(dtype.itemsize)
    real = register_type(dtype)
    total = entry_alloca(b, real)

    def element(pointer: ll.Value, index: ll.Value) -> ll.Value:
        return load_element(b, dtype, b.gep(pointer, [b.mul(index, size)]))

    with counted_loop(b, m, "gemm.i") as i:
        with counted_loop(b, n, "gemm.j") as j:
            target = b.gep(c, [b.mul(b.add(b.mul(i, n), j), size)])
            b.store(load_element(b, dtype, target) if accumulate else ll.Constant(real, 0.0), total)
            with counted_loop(b, k, "gemm.p") as p:
                x = element(a.pointer, b.add(b.mul(p, m), i) if a.transposed else b.add(b.mul(i, k), p))
                y = element(bm.pointer, b.add(b.mul(j, k), p) if bm.transposed else b.add(b.mul(p, n), j))
                b.store(b.fadd(b.load(total), b.fmul(x, y)), total)
            store_element(b, dtype, b.load(total), target)


def emit_pack(
    b: ll.IRBuilder, source: ArrayRef, target: ll.Value, target_strides: list[ll.Value] | None = None
) -> None:
    """target = source, read through its strides; the target is C-contiguous in source's
    shape, or laid out by `target_strides` (bytes)."""
    if target_strides is None:
        target_strides, running = [], I64(source.dtype.itemsize)
        for dim in reversed(source.shape):
            target_strides.insert(0, running)
            running = b.mul(running, dim)
    _pack_axis(b, source, target, target_strides, 0, (I64(0), I64(0)))


def _pack_axis(
    b: ll.IRBuilder,
    source: ArrayRef,
    target: ll.Value,
    target_strides: list[ll.Value],
    axis: int,
    offsets: tuple[ll.Value, ll.Value],
) -> None:
    if axis == len(source.shape):
        value = load_element(b, source.dtype, b.gep(source.pointer, [offsets[0]]))
        store_element(b, source.dtype, value, b.gep(target, [offsets[1]]))
        return
    with counted_loop(b, source.shape[axis], f"pack.axis{axis}") as index:
        inner = (
            b.add(offsets[0], b.mul(index, source.strides[axis])),
            b.add(offsets[1], b.mul(index, target_strides[axis])),
        )
        _pack_axis(b, source, target, target_strides, axis + 1, inner)


def emit_zero(b: ll.IRBuilder, dtype: DType, pointer: ll.Value, count: ll.Value) -> None:
    """pointer[0:count] = 0 (a loop LLVM turns into memset)."""
    zero = ll.Constant(register_type(dtype), 0.0 if dtype.is_float else 0)
    with counted_loop(b, count, "zero") as index:
        store_element(b, dtype, zero, b.gep(pointer, [b.mul(index, I64(dtype.itemsize))]))


def product(b: ll.IRBuilder, values: list[ll.Value]) -> ll.Value:
    total: ll.Value = I64(1)
    for value in values:
        total = b.mul(total, value)
    return total
