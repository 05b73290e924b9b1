"""tx.gemm's code (codegen_llvm/gemm_update.py): a weight update by a product, W <- beta W +
alpha A . B, through every path tc_gemm takes (tc's tiles with their overlapping edges, BLAS,
the scratch behind the narrow kernels, plain loops without BLAS), in place and not; numpy's
values."""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.codegen_llvm.register_tile import tile_columns, tile_rows
from tc.codegen_llvm.small_gemm import SMALL_ROWS
from tc.ir import DType

RNG = np.random.default_rng(11)
LR, DECAY = 0.05, 1e-3


def _sgd_step(dtype: str, transposed: bool = True, returns_w: bool = False):  # type: ignore[no-untyped-def]
    """(f, W): f(x, g) updates W by W - LR * (x^T . g + 2 DECAY W) (x . g unless `transposed`)."""
    w = tc.shared(np.zeros((1, 1), dtype), name="W")
    x, g = T.matrix("x", dtype=dtype), T.matrix("g", dtype=dtype)
    product = T.dot(x.T, g) if transposed else T.dot(x, g)
    f = tc.function([x, g], [w * 2] if returns_w else None, updates=[(w, w - LR * (product + 2 * DECAY * w))])
    assert "tx.gemm" in f.dump("tir-opt")
    return f, w


def _check(f, w, shape_x: tuple[int, int], shape_g: tuple[int, int], transposed: bool = True) -> None:  # type: ignore[no-untyped-def]
    dtype = w.get_value().dtype
    x = RNG.standard_normal(shape_x).astype(dtype)
    g = RNG.standard_normal(shape_g).astype(dtype)
    start = RNG.standard_normal((x.shape[1] if transposed else x.shape[0], g.shape[1])).astype(dtype)
    w.set_value(start)
    product = (x.T if transposed else x).astype(np.float64) @ g.astype(np.float64)
    want = start - LR * (product + 2 * DECAY * start.astype(np.float64))
    f(x, g)
    tolerance = 2e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(w.get_value(), want, rtol=tolerance, atol=tolerance * (x.shape[0] + 1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_tile_edge_is_updated_once(dtype: str) -> None:
    """tc's tiles: the last row and column blocks overlap the ones before; an element updated
    twice would be off by LR times the product."""
    f, w = _sgd_step(dtype)
    nr, mr = tile_columns(DType(dtype[0] + dtype[-2:])), tile_rows()
    for m in (SMALL_ROWS, mr - 1, mr + 1, 2 * mr + 3, 784):
        for n in (nr, nr + 1, 2 * nr - 1, 500):
            for k in (0, 1, 20):
                _check(f, w, (k, m), (k, n))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_narrow_blas_and_tiny_updates(dtype: str) -> None:
    """A 10-wide result (tc's narrow kernels, into a scratch), a square one (BLAS), a small
    one (loops or BLAS), and a product of x . g (B's rows contiguous, not a transposed A)."""
    f, w = _sgd_step(dtype)
    for shape_x, shape_g in (
        ((600, 784), (600, 10)),
        ((300, 300), (300, 300)),
        ((3, 5), (3, 2)),
        ((1, 7), (1, 9)),
    ):
        _check(f, w, shape_x, shape_g)
    for shape_x, shape_g in (((5, 0), (5, 7)), ((5, 7), (5, 0)), ((0, 0), (0, 0)), ((20, 784), (20, 0))):
        _check(f, w, shape_x, shape_g)  # empty weights: nothing to update, nothing read past them
    plain, w_plain = _sgd_step(dtype, transposed=False)
    for shape_x, shape_g in (((784, 20), (20, 500)), ((64, 200), (200, 3))):
        _check(plain, w_plain, shape_x, shape_g, transposed=False)


def test_a_threaded_update_matches_one_thread() -> None:
    f, w = _sgd_step("float32")
    x = RNG.standard_normal((20, 1500)).astype(np.float32)  # 1500 x 20 x 1200: threaded
    g = RNG.standard_normal((20, 1200)).astype(np.float32)
    start = RNG.standard_normal((1500, 1200)).astype(np.float32)
    results = []
    native = f._code_owner
    try:
        for threads in (2, 1):
            native.set_num_threads(threads)
            w.set_value(start)
            f(x, g)
            results.append(w.get_value())
    finally:
        native.set_num_threads(2)
    np.testing.assert_array_equal(results[0], results[1])
    want = start - LR * (x.T.astype(np.float64) @ g + 2 * DECAY * start)
    np.testing.assert_allclose(results[0], want, rtol=2e-5, atol=1e-4)


def test_an_update_not_in_place_leaves_the_old_value_to_its_readers() -> None:
    """W is also returned (doubled), so the update cannot write W's buffer: the product
    updates a copy, and the output is computed from the old W."""
    f, w = _sgd_step("float64", returns_w=True)
    assert "in_place = true" not in f.dump("tir-opt").split("tx.gemm")[1].split("\n")[0]
    x, g = RNG.standard_normal((20, 40)), RNG.standard_normal((20, 30))
    start = RNG.standard_normal((40, 30))
    w.set_value(start)
    (doubled,) = f(x, g)
    np.testing.assert_array_equal(doubled, 2 * start)
    np.testing.assert_allclose(
        w.get_value(), start - LR * (x.T @ g + 2 * DECAY * start), rtol=1e-14, atol=1e-13
    )


def test_without_blas_the_loops_update_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tc.callables.blas_routines", lambda: {})
    f, w = _sgd_step("float64")
    for shape_x, shape_g in (((30, 50), (30, 40)), ((600, 70), (600, 10)), ((0, 4), (0, 9))):
        _check(f, w, shape_x, shape_g)


def test_a_failed_call_leaves_the_weights_unchanged() -> None:
    w = tc.shared(np.ones((4, 6)), name="W")
    x, g, i = T.dmatrix("x"), T.dmatrix("g"), T.lscalar("i")
    f = tc.function([x, g, i], x[i], updates=[(w, w - 0.1 * T.dot(x.T, g))])
    assert "tx.gemm" in f.dump("tir-opt")
    with pytest.raises(tc.TcError):
        f(np.ones((3, 4)), np.ones((3, 6)), 7)  # the index check fails after the product could run
    np.testing.assert_array_equal(w.get_value(), np.ones((4, 6)))
    with pytest.raises(tc.TcError):
        f(np.ones((3, 5)), np.ones((3, 6)), 0)  # W is 4 x 6: the product's rows do not agree
    np.testing.assert_array_equal(w.get_value(), np.ones((4, 6)))


def test_the_interpreter_computes_what_the_code_does() -> None:
    """tx.gemm's `evaluate` (the reference the IR interpreter runs) on the optimised IR."""
    from tc.ir import parse_module, run_function

    f, w = _sgd_step("float64")
    module = parse_module(f.dump("tir-opt"))
    x, g = RNG.standard_normal((20, 9)), RNG.standard_normal((20, 7))
    start = RNG.standard_normal((9, 7))
    state = {"W": start.copy()}
    run_function(module.functions[0], x, g, state=state)
    w.set_value(start)
    f(x, g)
    np.testing.assert_allclose(state["W"], w.get_value(), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("factor", ["x . W", "W^T . x", "W . W"])
def test_an_update_whose_product_reads_the_weights_is_not_in_place(factor: str) -> None:
    """W - 0.1 * dot(x, W): the product reads W at other indices than the update writes, so the
    update must not overwrite W while the product still reads it."""
    n = 300  # large enough for tiles and threads
    start = RNG.standard_normal((n, n))
    w = tc.shared(start.copy(), name="W")
    x = T.dmatrix("x")
    product = {"x . W": T.dot(x, w), "W^T . x": T.dot(w.T, x), "W . W": T.dot(w, w)}[factor]
    f = tc.function([x], None, updates=[(w, w - 0.1 * product)], on_unused_input="ignore")
    assert "tx.gemm" in f.dump("tir-opt") and "in_place = true" not in f.dump("tir-opt")
    xv = RNG.standard_normal((n, n))
    f(xv)
    want = {"x . W": xv @ start, "W^T . x": start.T @ xv, "W . W": start @ start}[factor]
    np.testing.assert_allclose(w.get_value(), start - 0.1 * want, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_an_l1_penalty_weighted_zero_still_fuses_and_keeps_nan(dtype: str) -> None:
    """The tutorials' MLP cost adds 0.00 * sum(|W|); its gradient leaves 0 * sign(W) in the
    update, which fuse-gemm counts as 0. Where W is nan the update stays nan, as the unfused
    kernel's is; everywhere else it is numpy's."""
    x, g = T.matrix("x", dtype=dtype), T.matrix("g", dtype=dtype)
    w = tc.shared(np.zeros((1, 1), dtype), name="W")
    penalty = 0.0 * abs(w).sum() + DECAY * (w**2).sum()
    f = tc.function([x, g], None, updates=[(w, w - LR * (T.dot(x.T, g) + T.grad(penalty, w)))])
    assert "tx.gemm" in f.dump("tir-opt") and "tx.sign" not in f.dump("tir-opt")
    xv = RNG.standard_normal((20, 30)).astype(dtype)
    gv = RNG.standard_normal((20, 40)).astype(dtype)
    start = RNG.standard_normal((30, 40)).astype(dtype)
    start[3, 5] = np.nan
    w.set_value(start)
    f(xv, gv)
    s64 = start.astype(np.float64)
    want = s64 - LR * (xv.T.astype(np.float64) @ gv + 2 * DECAY * s64)
    got = w.get_value()
    assert np.isnan(got[3, 5]) and np.isnan(got).sum() == 1
    tolerance = 2e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance * 21)
