"""Contiguous runs of floats for the convolution and pooling lowerings, in explicit vectors.

The rows these lowerings move are short and of run-time length (8 or 24 elements in
LeNet), too short for LLVM's loop vectoriser, whose vector body wants several vectors per
trip. Here a run is moved in whole vectors of VECTOR_BYTES:

- `emit_copy_run`: target = source; the vectors that start before the run's last vector,
  then one vector ending at the run's end (it may rewrite a few elements already copied,
  with the same values), or element by element when the run is shorter than one vector.
  The two may not overlap.
- `emit_add_run`: target += source; whole vectors, then the rest element by element (each
  element is added once, so the sums are those of a scalar loop, bit for bit).
- `emit_fill_run`: target = value, a loop LLVM turns into memset or vector stores.
- `copy_planes`: a rank-3 array's planes, in runs where both sides lay them out C-contiguously.
"""

from __future__ import annotations

from ..ir import DType
from . import llvm_ir as ll
from .control import counted_loop
from .gemm import emit_pack
from .nest import ArrayRef, contiguous_over
from .types import I64, load_element, register_type, store_element

VECTOR_BYTES = 32  # one AVX register: 8 f32 or 4 f64


def lanes(dtype: DType) -> int:
    return max(VECTOR_BYTES // dtype.itemsize, 1)


def _vector(b: ll.IRBuilder, dtype: DType, address: ll.Value) -> ll.Value:
    """`address` as a pointer to one vector of `dtype`."""
    kind = ll.VectorType(register_type(dtype), lanes(dtype))
    return b.bitcast(address, kind.as_pointer())


def _move(b: ll.IRBuilder, dtype: DType, target: ll.Value, source: ll.Value, offset: ll.Value, add: bool):  # type: ignore[no-untyped-def]
    """One vector at byte `offset`: target = source, or target += source."""
    into = _vector(b, dtype, b.gep(target, [offset]))
    value = b.load(_vector(b, dtype, b.gep(source, [offset])), align=dtype.itemsize)
    if add:
        value = b.fadd(b.load(into, align=dtype.itemsize), value)
    b.store(value, into, align=dtype.itemsize)


def _elements(
    b: ll.IRBuilder,
    dtype: DType,
    target: ll.Value,
    source: ll.Value,
    span: tuple[ll.Value, ll.Value],
    add: bool,
) -> None:
    size = I64(dtype.itemsize)
    with counted_loop(b, span[1], "run.element", start=span[0]) as k:
        offset = b.mul(k, size)
        value = load_element(b, dtype, b.gep(source, [offset]))
        if add:
            value = b.fadd(load_element(b, dtype, b.gep(target, [offset])), value)
        store_element(b, dtype, value, b.gep(target, [offset]))


def emit_copy_run(b: ll.IRBuilder, dtype: DType, target: ll.Value, source: ll.Value, count: ll.Value) -> None:
    """target[0:count] = source[0:count] (byte pointers, buffers apart)."""
    with b.if_else(b.icmp_signed(">=", count, I64(lanes(dtype)))) as (vectors, short):
        with vectors:
            emit_copy_vectors(b, dtype, target, source, count)
        with short:
            _elements(b, dtype, target, source, (I64(0), count), add=False)


def emit_copy_vectors(
    b: ll.IRBuilder, dtype: DType, target: ll.Value, source: ll.Value, count: ll.Value
) -> None:
    """target[0:count] = source[0:count] for a run of at least one vector (`lanes`)."""
    n = lanes(dtype)
    with counted_loop(b, b.sdiv(b.sub(count, I64(1)), I64(n)), "run.copy") as k:
        _move(b, dtype, target, source, b.mul(k, I64(n * dtype.itemsize)), add=False)
    _move(b, dtype, target, source, b.mul(b.sub(count, I64(n)), I64(dtype.itemsize)), add=False)


def emit_add_run(b: ll.IRBuilder, dtype: DType, target: ll.Value, source: ll.Value, count: ll.Value) -> None:
    """target[0:count] += source[0:count] (byte pointers, buffers apart)."""
    n = lanes(dtype)
    whole = b.sdiv(count, I64(n))
    with counted_loop(b, whole, "run.add") as k:
        _move(b, dtype, target, source, b.mul(k, I64(n * dtype.itemsize)), add=True)
    _elements(b, dtype, target, source, (b.mul(whole, I64(n)), count), add=True)


def emit_fill_run(b: ll.IRBuilder, dtype: DType, target: ll.Value, count: ll.Value, value: ll.Value) -> None:
    """target[0:count] = value."""
    with counted_loop(b, count, "run.fill") as k:
        store_element(b, dtype, value, b.gep(target, [b.mul(k, I64(dtype.itemsize))]))


def copy_planes(b: ll.IRBuilder, source: ArrayRef, target: ll.Value, target_strides: list[ll.Value]) -> None:
    """target = source (planes x rows x cols): a run per plane where both lay each plane
    out C-contiguously, else element by element through the strides."""
    dtype, cols, plane_extent = source.dtype, source.shape[2], source.shape[1:3]
    both = b.and_(
        contiguous_over(b, plane_extent, source.strides[1:3], dtype.itemsize),
        contiguous_over(b, plane_extent, target_strides[1:3], dtype.itemsize),
    )
    with b.if_else(both) as (runs, elements):
        with runs:
            count = b.mul(source.shape[1], cols)
            with counted_loop(b, source.shape[0], "conv.plane") as plane:
                into = b.gep(target, [b.mul(plane, target_strides[0])])
                emit_copy_run(b, dtype, into, b.gep(source.pointer, [b.mul(plane, source.strides[0])]), count)
        with elements:
            emit_pack(b, source, target, target_strides)
