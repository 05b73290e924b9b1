"""The outer-product kernel (codegen_llvm/outer_gemm.py): x^T . g with g narrow, for tc_dot and
for tx.gemm's update W - lr * x^T . g. Every n it takes, the edges of its tiles (the last one
overlapping) and of its panels of rows, views of x and g, threads, and the same bits quick
and optimised."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.codegen_llvm.outer_gemm import OUTER_WIDEST, PANEL_ROWS, vectors_per_tile
from tc.codegen_llvm.register_tile import lanes
from tc.ir import DType

RNG = np.random.default_rng(5)
LR = 0.13


def _functions(dtype: str):  # type: ignore[no-untyped-def]
    """(x^T . g, the update of W by W - LR * x^T . g, W)."""
    x, g = T.matrix("x", dtype=dtype), T.matrix("g", dtype=dtype)
    w = tc.shared(np.zeros((1, 1), dtype), name="W")
    product = tc.function([x, g], T.dot(x.T, g))
    update = tc.function([x, g], [], updates=[(w, w - LR * T.dot(x.T, g))])
    assert "tx.gemm" in update.dump("tir-opt")
    return product, update, w


def _tolerance(dtype: str, k: int) -> dict[str, float]:
    tolerance = 1e-5 if dtype == "float32" else 1e-13
    return {"rtol": tolerance, "atol": tolerance * (k + 1)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_n_and_every_edge_matches_numpy(dtype: str) -> None:
    product, update, w = _functions(dtype)
    width = lanes(DType.F32 if dtype == "float32" else DType.F64)
    for n in range(2, OUTER_WIDEST + 1):
        tile = width * vectors_per_tile(n)
        for m in sorted({4 * width, tile + 1, 2 * tile - 1, 4 * width + 3, 784}):
            for k in (0, 1, PANEL_ROWS - 1, PANEL_ROWS, 3 * PANEL_ROWS + 5, 600):
                x = RNG.standard_normal((k, m)).astype(dtype)
                g = RNG.standard_normal((k, n)).astype(dtype)
                exact = x.T.astype(np.float64) @ g.astype(np.float64)
                got = product(x, g)
                assert got.shape == (m, n) and got.dtype == np.dtype(dtype)
                np.testing.assert_allclose(got, exact, **_tolerance(dtype, k))
                start = RNG.standard_normal((m, n)).astype(dtype)
                w.set_value(start)
                update(x, g)  # an element updated twice (the overlapping tile) would be off by LR x^T g
                np.testing.assert_allclose(w.get_value(), start - LR * exact, **_tolerance(dtype, k))


def test_each_element_is_one_fma_chain_over_k() -> None:
    """A column of x and g give the same bits wherever the tiles and panels put them: the
    overlapping last tile and the partial sums carried from panel to panel change nothing."""
    product, _, _ = _functions("float64")
    x = RNG.standard_normal((3 * PANEL_ROWS + 7, 101))
    g = RNG.standard_normal((x.shape[0], 10))
    whole = product(x, g)
    order = RNG.permutation(x.shape[1])
    assert product(np.ascontiguousarray(x[:, order]), g).tobytes() == whole[order].tobytes()


def test_views_of_x_and_g() -> None:
    """x's rows further apart than its columns (a column slice of a wider batch), rows skipped,
    g a column view: the kernel reads them in place."""
    product, update, w = _functions("float64")
    batch = RNG.standard_normal((1200, 800))
    g = RNG.standard_normal((600, 14))[:, 2:12]
    for x in (batch[:600, 5:789], batch[::2, :784]):
        np.testing.assert_allclose(product(x, g), x.T @ g, **_tolerance("float64", 600))
        start = RNG.standard_normal((784, 10))
        w.set_value(start)
        update(x, g)
        np.testing.assert_allclose(w.get_value(), start - LR * (x.T @ g), **_tolerance("float64", 600))


def test_the_result_does_not_depend_on_the_thread_count() -> None:
    product, _, _ = _functions("float32")
    x = RNG.standard_normal((2000, 784)).astype(np.float32)  # 784 x 2000 x 10: threaded
    g = RNG.standard_normal((2000, 10)).astype(np.float32)
    native = product._code_owner
    try:
        native.set_num_threads(1)
        one = product(x, g)
        native.set_num_threads(2)
        two = product(x, g)
    finally:
        native.set_num_threads(2)
    assert one.tobytes() == two.tobytes()
    np.testing.assert_allclose(one, x.T.astype(np.float64) @ g, rtol=1e-4, atol=1e-3)


def _library_kernel(part: str, quick: bool):  # type: ignore[no-untyped-def]
    """kernel(x, g, out, threads, alpha, beta) -> done: the part's tc_outer_gemm, quick or
    optimised, on arrays (x's and g's rows contiguous, `out` m x n)."""
    from tc.codegen_llvm.loader import load_object
    from tc.codegen_llvm.support import support_object, support_text
    from tc.codegen_llvm.symbols import EntryPoint
    from tc.library_parts import support_library

    name = f"tc_outer_gemm_{part}"
    native = load_object(support_object(support_text(part), quick=quick), {name: EntryPoint(name, ())}, {})
    native.set_library(support_library)
    c = ctypes
    signature = [*[c.c_void_p, c.c_int64] * 2, c.c_void_p, *[c.c_int64] * 4, c.c_double, c.c_double]
    entry = c.CFUNCTYPE(c.c_bool, *signature)(native.addresses[name])

    def kernel(
        x: np.ndarray, g: np.ndarray, out: np.ndarray, threads: int, alpha: float, beta: float
    ) -> bool:
        (k, m), n = x.shape, g.shape[1]
        pointers = (x.ctypes.data, x.strides[0], g.ctypes.data, g.strides[0], out.ctypes.data)
        return bool(entry(*pointers, m, n, k, threads, alpha, beta))

    kernel.loaded = native  # type: ignore[attr-defined]  (the code stays loaded while the kernel lives)
    return kernel


@pytest.mark.parametrize("part", ["f32", "f64"])
def test_quick_and_optimised_library_code_give_the_same_bits(part: str) -> None:
    """The support library's products answer quick first (tc/tiering.py) and are replaced by
    their optimised code: the kernel's sums are explicit fused multiply-adds, so both give
    the same bits, with the update's alpha and beta too. With k = 0 and beta 0, C is zeros,
    never read (it may hold NaN)."""
    dtype = np.float32 if part == "f32" else np.float64
    x = RNG.standard_normal((300, 200)).astype(dtype)
    g = RNG.standard_normal((300, 10)).astype(dtype)
    start = RNG.standard_normal((200, 10)).astype(dtype)
    exact = x.T.astype(np.float64) @ g
    tolerance = {"rtol": 1e-4, "atol": 1e-3} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-11}
    results = []
    for quick in (True, False):
        kernel = _library_kernel(part, quick)
        for threads, (alpha, beta) in ((1, (1.0, 0.0)), (2, (-LR, 1.0))):
            out = start.copy()
            assert kernel(x, g, out, threads, alpha, beta)
            np.testing.assert_allclose(out, alpha * exact + beta * start, **tolerance)
            results.append(out)
        unread = np.full((200, 10), np.nan, dtype)
        assert kernel(x[:0], g[:0], unread, 1, 1.0, 0.0) and not unread.any()
    assert results[0].tobytes() == results[2].tobytes() and results[1].tobytes() == results[3].tobytes()
