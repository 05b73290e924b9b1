"""tc's own kernels for products with a small side (codegen_llvm/small_gemm.py) and for narrow
results (narrow_gemm.py): every edge of their tiling, A in any layout, B with a row stride,
threads, and the shapes left to BLAS."""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.codegen_llvm.register_tile import tile_columns, tile_rows
from tc.codegen_llvm.small_gemm import SMALL_ROWS

RNG = np.random.default_rng(7)


def _product(dtype: str):  # type: ignore[no-untyped-def]
    a, b = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype)
    return tc.function([a, b], T.dot(a, b))


def _exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a.astype(np.float64) @ b.astype(np.float64)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_tile_edge_matches_numpy(dtype: str) -> None:
    from tc.ir import DType

    f = _product(dtype)
    assert "tc_lib.dot_" in f.dump("llvm")  # the library's tc_dot, which picks these kernels
    nr, mr = tile_columns(DType.F32 if dtype == "float32" else DType.F64), tile_rows()
    rows = [SMALL_ROWS, SMALL_ROWS + 1, mr - 1, mr, mr + 1, 2 * mr + 3, 20]
    columns = [nr, nr + 1, 2 * nr - 1, 3 * nr, 500]
    tolerance = 1e-5 if dtype == "float32" else 1e-13
    for m in rows:
        for n in columns:
            for k in (0, 1, 7, 130):
                a = RNG.standard_normal((m, k)).astype(dtype)
                b = RNG.standard_normal((k, n)).astype(dtype)
                got = f(a, b)
                assert got.shape == (m, n) and got.dtype == np.dtype(dtype)
                np.testing.assert_allclose(got, _exact(a, b), rtol=tolerance, atol=tolerance * (k + 1))


@pytest.mark.parametrize("layout", ["transposed", "strided", "reversed"])
def test_a_in_any_layout_and_b_with_a_row_stride(layout: str) -> None:
    f = _product("float64")
    base = RNG.standard_normal((60, 40))
    a = {"transposed": base.T[:, :50], "strided": base[::3, ::2], "reversed": base[::-1, ::-1]}[layout]
    wide = RNG.standard_normal((a.shape[1], 200))
    b = wide[:, 10:110]  # rows 200 elements apart, columns contiguous
    np.testing.assert_allclose(f(a, b), a @ b, rtol=1e-13, atol=1e-12)


def test_the_result_does_not_depend_on_the_thread_count() -> None:
    f = _product("float32")
    a = RNG.standard_normal((40, 1500)).astype(np.float32)  # 40 x 1500 x 1200: threaded
    b = RNG.standard_normal((1500, 1200)).astype(np.float32)
    native = f._code_owner
    try:
        native.set_num_threads(1)
        one = f(a, b)
        native.set_num_threads(2)
        two = f(a, b)
    finally:
        native.set_num_threads(2)
    assert one.tobytes() == two.tobytes()
    np.testing.assert_allclose(one, _exact(a, b), rtol=1e-4, atol=1e-3)


def test_each_element_is_one_fma_chain_over_k() -> None:
    """A row of A and a column of B give the same bits wherever the tiling puts them: the
    overlapping last tiles recompute elements to exactly the values of the tile before."""
    f = _product("float64")
    a = RNG.standard_normal((19, 33))
    b = RNG.standard_normal((33, 45))
    whole = f(a, b)
    for i in (0, 9, 18):
        single = f(np.repeat(a[i : i + 1], SMALL_ROWS, axis=0), b)[0]
        assert single.tobytes() == whole[i].tobytes()


def test_shapes_it_does_not_suit_go_to_blas_and_stay_right() -> None:
    f = _product("float32")
    cases = [
        (RNG.standard_normal((5, 30)), RNG.standard_normal((30, 5))),  # narrow, m below MR
        (RNG.standard_normal((2, 30)), RNG.standard_normal((30, 64))),  # m below SMALL_ROWS
        (RNG.standard_normal((200, 200)), RNG.standard_normal((200, 200))),  # no small side
        (RNG.standard_normal((20, 400)), RNG.standard_normal((100, 400)).T),  # B transposed, over 128 KiB
        (RNG.standard_normal((20, 30)), RNG.standard_normal((30, 256))),  # rows 1 KiB apart
        (RNG.standard_normal((20, 3000)), RNG.standard_normal((3000, 64))),  # k past L2's blocks
        (RNG.standard_normal((5000, 20)), RNG.standard_normal((20, 64))),  # only k small, many rows
    ]
    for a, b in cases:
        a, b = a.astype(np.float32), b.astype(np.float32)
        np.testing.assert_allclose(f(a, b), _exact(a, b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_b_transposed_is_copied_for_the_kernel(dtype: str) -> None:
    """B a transposed view (the gradient of x . W is dy . W^T): the kernel runs on a copy of B
    with contiguous rows, so it gives the bits of the same product on a contiguous B."""
    from tc.ir import DType

    f = _product(dtype)
    nr, mr = tile_columns(DType.F32 if dtype == "float32" else DType.F64), tile_rows()
    tolerance = 1e-5 if dtype == "float32" else 1e-13
    for m in (mr, mr + 1, 32, 64):
        for n in (nr, 2 * nr + 3, 100):
            for k in (0, 1, 9, 128):
                a = RNG.standard_normal((m, k)).astype(dtype)
                b_t = RNG.standard_normal((n, k)).astype(dtype)
                got = f(a, b_t.T)
                assert got.tobytes() == f(a, np.ascontiguousarray(b_t.T)).tobytes(), (m, n, k)
                np.testing.assert_allclose(got, _exact(a, b_t.T), rtol=tolerance, atol=tolerance * (k + 1))
    # rows of the copy 1 KiB apart are padded apart; a column view of a wider B^T
    aliased = RNG.standard_normal((1024 // np.dtype(dtype).itemsize, 30))
    for b_t in (aliased, RNG.standard_normal((70, 50))[:, 5:45]):
        a = RNG.standard_normal((20, b_t.shape[1]))
        a, b_t = a.astype(dtype), b_t.astype(dtype)
        np.testing.assert_allclose(f(a, b_t.T), _exact(a, b_t.T), rtol=tolerance, atol=tolerance * 50)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_narrow_results_match_numpy(dtype: str) -> None:
    from tc.ir import DType

    f = _product(dtype)
    assert "tc_lib.dot_" in f.dump("llvm")  # the library's tc_dot, which picks narrow_gemm
    nr, mr = tile_columns(DType.F32 if dtype == "float32" else DType.F64), tile_rows()
    tolerance = 1e-5 if dtype == "float32" else 1e-13
    for m in (mr, mr + 1, 3 * mr - 1, 600):
        # up to three vectors (nr is two): m 600 and k 300 are no small side, so narrow_gemm
        for n in sorted({1, 2, nr // 2 - 1, nr // 2, nr // 2 + 1, nr - 1, nr, nr + 1, 3 * nr // 2 - 1}):
            for k in (0, 1, 9, 300):
                a = RNG.standard_normal((m, k)).astype(dtype)
                b = RNG.standard_normal((k, n)).astype(dtype)
                got = f(a, b)
                assert got.shape == (m, n)
                np.testing.assert_allclose(got, _exact(a, b), rtol=tolerance, atol=tolerance * (k + 1))


def test_narrow_results_with_a_transposed_and_b_a_column_view() -> None:
    """The logistic-regression gradient x^T d: A's rows adjacent, its columns far apart."""
    f = _product("float64")
    x = RNG.standard_normal((600, 784))
    d = RNG.standard_normal((600, 30))[:, 3:13]
    np.testing.assert_allclose(f(x.T, d), x.T @ d, rtol=1e-12, atol=1e-11)
    pair = RNG.standard_normal((784, 4))[:, 1:3]  # two columns, rows 4 apart
    np.testing.assert_allclose(f(x, pair), x @ pair, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_narrow_product_of_a_transposed_a_is_made_swapped(dtype: str) -> None:
    """x^T . g with g narrow (transposed_gemm.small_gemm_transposed): computed as (g^T . x)^T
    by small_gemm, so it gives the bits of that product; x's rows strided, g a column view."""
    from tc.codegen_llvm.narrow_gemm import NARROW_VECTORS
    from tc.codegen_llvm.register_tile import lanes
    from tc.ir import DType

    x, g = T.matrix("x", dtype=dtype), T.matrix("g", dtype=dtype)
    straight = tc.function([x, g], T.dot(x.T, g))
    swapped = tc.function([x, g], T.dot(g.T, x).T)
    d = DType.F32 if dtype == "float32" else DType.F64
    widest = NARROW_VECTORS * lanes(d) - 1
    tolerance = 1e-5 if dtype == "float32" else 1e-13
    for m in (tile_columns(d), tile_columns(d) + 1, 33, 784):  # the swapped product's n >= NR
        for n in sorted({SMALL_ROWS, 5, 10, widest}):
            for k in (0, 1, 17, 600):
                a = RNG.standard_normal((2 * k, m + 3)).astype(dtype)[::2, 1 : m + 1]
                b = RNG.standard_normal((k, n + 4)).astype(dtype)[:, 2 : n + 2]
                got = straight(a, b)
                assert got.tobytes() == swapped(a, b).tobytes(), (m, n, k)
                np.testing.assert_allclose(got, _exact(a.T, b), rtol=tolerance, atol=tolerance * (k + 1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_broadcast_and_empty_operands(dtype: str) -> None:
    """Rows repeated by a zero stride (on either side) and empty sides, on both kernels."""
    f = _product(dtype)
    cases = [
        (np.broadcast_to(RNG.random((1, 30)), (20, 30)), RNG.random((30, 500))),
        (RNG.random((20, 30)), np.broadcast_to(RNG.random((1, 500)), (30, 500))),
        (RNG.random((40, 30)), np.broadcast_to(RNG.random((1, 10)), (30, 10))),
        (np.broadcast_to(RNG.random((600, 1)), (600, 784)), RNG.random((784, 10))),
        (RNG.random((0, 30)), RNG.random((30, 500))),
        (RNG.random((20, 30)), RNG.random((30, 0))),
        (RNG.random((20, 0)), RNG.random((0, 500))),
        (RNG.random((600, 0)), RNG.random((0, 10))),
    ]
    for a, b in cases:
        a, b = a.astype(dtype), b.astype(dtype)
        got = f(a, b)
        assert got.shape == (a.shape[0], b.shape[1])
        np.testing.assert_allclose(got, _exact(a, b), rtol=1e-4, atol=1e-4)
