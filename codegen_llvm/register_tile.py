"""The register tile every product kernel of tc's is built from (small_gemm.py, narrow_gemm.py,
gemm_update.py, the convolutions' tiles): its geometry for the host's vectors, and the loop of
fused multiply-adds that keeps a tile of C in registers while it walks k.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from ..ir import DType
from . import llvm_ir as ll
from .types import I32, I64, register_type


@lru_cache(maxsize=1)
def vector_bytes() -> int:
    """64 where the host has AVX-512 (32 vector registers), else 32 (AVX2: 16 registers)."""
    from .jit import host_features

    return 64 if "+avx512f" in host_features().split(",") else 32


def register_file_bytes() -> int:
    """The vector registers' bytes: 32 of 64 with AVX-512, 16 of 32 with AVX2."""
    return vector_bytes() * (32 if vector_bytes() == 64 else 16)


def lanes(dtype: DType) -> int:
    return vector_bytes() // dtype.itemsize


def tile_rows() -> int:
    """MR: 2·MR accumulators plus two vectors of B and one broadcast fit in the registers."""
    return 8 if vector_bytes() == 64 else 6


def tile_columns(dtype: DType) -> int:
    return 2 * lanes(dtype)


def packed_operands(dtype: DType, rows: int, a: ll.Value, b_rows: tuple[ll.Value, ll.Value]) -> tuple:  # type: ignore[type-arg]
    """A tile's (a_address, load_b) for emit_fma_tile: A packed (pack_rows), B's rows
    `b_rows` = (pointer, row stride in bytes)."""
    bp, ldb = b_rows
    size, width = dtype.itemsize, lanes(dtype)
    vector = ll.VectorType(register_type(dtype), width)

    def a_address(b: ll.IRBuilder, p: ll.Value, r: int) -> ll.Value:
        return b.gep(a, [b.add(b.mul(p, I64(rows * size)), I64(r * size))])

    def load_b(b: ll.IRBuilder, p: ll.Value, h: int) -> ll.Value:
        address = b.gep(b.gep(bp, [b.mul(p, ldb)]), [I64(h * width * size)])
        return b.load(b.bitcast(address, vector.as_pointer()), align=size)

    return a_address, load_b


def emit_fma_tile(
    b: ll.IRBuilder,
    dtype: DType,
    shape: tuple[int, int],
    k: ll.Value,
    access: tuple,  # type: ignore[type-arg]
    load_c: Callable[[ll.IRBuilder, int, int], ll.Value] | None = None,
) -> None:
    """The register tile: acc[r][h] = sum over p < k of A[r, p] * B[p, vector h], then stored
    (with `load_c(b, r, h)`, C's vector h of row r, the sums start from C's values).

    `shape` is (rows, vectors); `access` is (a_address(b, p, r): the address of A[r, p],
    load_b(b, p, h): vector h of B's row p, store_c(b, r, h, value)). The accumulators are
    phis, so they live in registers across the loop."""
    rows, vectors = shape
    a_address, load_b, store_c = access
    real = register_type(dtype)
    width = lanes(dtype)
    vector = ll.VectorType(real, width)
    module, fn = b.module, b.function
    zero = ll.Constant(vector, [ll.Constant(real, 0.0)] * width)
    suffix = f"v{width}{'f64' if dtype is DType.F64 else 'f32'}"
    fma = module.globals.get(f"llvm.fmuladd.{suffix}") or ll.Function(
        module, ll.FunctionType(vector, [vector] * 3), f"llvm.fmuladd.{suffix}"
    )
    initial = [[load_c(b, r, h) if load_c else zero for h in range(vectors)] for r in range(rows)]
    entry = b.block
    loop = fn.append_basic_block("k")
    done = fn.append_basic_block("store")
    b.cbranch(b.icmp_signed(">", k, I64(0)), loop, done)

    b.position_at_end(loop)
    p = b.phi(I64, "p")
    p.add_incoming(I64(0), entry)
    accumulators = [[b.phi(vector) for _ in range(vectors)] for _ in range(rows)]
    for row, starts in zip(accumulators, initial, strict=True):
        for acc, start in zip(row, starts, strict=True):
            acc.add_incoming(start, entry)
    b_vectors = [load_b(b, p, h) for h in range(vectors)]
    updated = []
    undefined = ll.Constant(vector, ll.Undefined)
    splat_mask = ll.Constant(ll.VectorType(I32, width), [I32(0)] * width)
    for r, row in enumerate(accumulators):
        scalar = b.load(b.bitcast(a_address(b, p, r), real.as_pointer()), align=dtype.itemsize)
        splat = b.shuffle_vector(b.insert_element(undefined, scalar, I32(0)), undefined, splat_mask)
        updated.append([b.call(fma, [splat, b_vectors[h], acc]) for h, acc in enumerate(row)])
    following = b.add(p, I64(1), flags=["nsw"])
    p.add_incoming(following, loop)
    for row, values in zip(accumulators, updated, strict=True):
        for acc, value in zip(row, values, strict=True):
            acc.add_incoming(value, loop)
    b.cbranch(b.icmp_signed("<", following, k), loop, done)

    b.position_at_end(done)
    results = []
    for r in range(rows):
        for h in range(vectors):
            value = b.phi(vector)
            value.add_incoming(initial[r][h], entry)
            value.add_incoming(updated[r][h], loop)
            results.append(value)
    for r in range(rows):
        for h in range(vectors):
            store_c(b, r, h, results[r * vectors + h])
