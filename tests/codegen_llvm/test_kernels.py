"""Whole kernels: large arrays (threaded), layouts, thread-count invariance."""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.codegen_llvm.parallel import GRAIN


def _activation(x):  # type: ignore[no-untyped-def]
    return T.maximum(0.1 * x, x) * T.sigmoid(x) + T.tanh(x) + T.sin(x) * T.exp(-abs(x))


def _activation_numpy(x: np.ndarray) -> np.ndarray:
    c = x.dtype.type
    with np.errstate(all="ignore"):
        return (
            np.maximum(c(0.1) * x, x) * (c(1) / (c(1) + np.exp(-x)))
            + np.tanh(x)
            + np.sin(x) * np.exp(-np.abs(x))
        )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_large_arrays_use_threads_and_agree_with_numpy(dtype: str) -> None:
    x = T.vector("x", dtype=dtype)
    f = tc.function([x], _activation(x))
    data = (np.random.default_rng(1).standard_normal(8 * GRAIN + 13) * 50).astype(dtype)
    data[::1001] = np.array([np.nan, np.inf, -np.inf, -0.0, 1e30], dtype)[np.arange(data[::1001].size) % 5]
    got = f(data)
    want = _activation_numpy(data)
    rtol = 1e-5 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def test_results_do_not_depend_on_thread_count() -> None:
    x = T.dvector("x")
    f = tc.function([x], _activation(x))
    data = np.random.default_rng(2).standard_normal(6 * GRAIN + 5) * 1e3
    native = f._code_owner
    try:
        native.set_num_threads(1)
        one = f(data)
        native.set_num_threads(2)
        two = f(data)
        native.set_num_threads(5)
        five = f(data)
    finally:
        native.set_num_threads(2)
    assert one.tobytes() == two.tobytes() == five.tobytes()


@pytest.mark.parametrize("layout", ["transposed", "strided", "reversed", "broadcast_row", "scalar"])
def test_layouts_of_large_matrices(layout: str) -> None:
    a = T.dmatrix("a")
    b = T.dmatrix("b") if layout != "broadcast_row" else T.drow("b")
    if layout == "scalar":
        b = T.dscalar("b")
    f = tc.function([a, b], T.exp(-a * a) * b + T.cos(a))
    rng = np.random.default_rng(3)
    base = rng.standard_normal((300, 800))
    if layout == "transposed":
        av, bv = base.T, rng.standard_normal((800, 300))
    elif layout == "strided":
        av, bv = base[:, ::2], rng.standard_normal((300, 400))
    elif layout == "reversed":
        av, bv = base[::-1], rng.standard_normal((300, 800))[:, ::-1]
    elif layout == "broadcast_row":
        av, bv = base, rng.standard_normal((1, 800))
    else:
        av, bv = base, np.float64(1.5)
    np.testing.assert_allclose(f(av, bv), np.exp(-av * av) * bv + np.cos(av), rtol=1e-13, atol=1e-15)


def test_empty_and_zero_size_arrays() -> None:
    x = T.dmatrix("x")
    f = tc.function([x], T.sin(x) + 1)
    assert f(np.zeros((0, 5))).shape == (0, 5)
    assert f(np.zeros((4, 0))).shape == (4, 0)


def test_intermediate_buffers_between_kernels() -> None:
    v = T.dvector("v")
    m = T.dmatrix("m")
    a = T.exp(v)
    f = tc.function([v, m], [T.sqrt(abs(m * T.tanh(a))), a])
    vv = np.linspace(-1, 1, 7)
    mv = np.arange(21.0).reshape(3, 7)
    got_d, got_a = f(vv, mv)
    np.testing.assert_allclose(got_d, np.sqrt(np.abs(mv * np.tanh(np.exp(vv)))), rtol=1e-14)
    np.testing.assert_allclose(got_a, np.exp(vv), rtol=1e-15)


def test_returning_an_input_or_a_constant_copies_it() -> None:
    x = T.dvector("x")
    f = tc.function([x], [x, T.constant(np.arange(3.0)), x * 2])
    data = np.arange(4.0)[::-1]
    same, const, double = f(data)
    assert same is not data and np.array_equal(same, data)
    assert np.array_equal(const, np.arange(3.0)) and np.array_equal(double, data * 2)
    data[0] = 99.0
    assert same[0] == 3.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huge_trig_arguments_fall_back_to_exact_math(dtype: str) -> None:
    """The vectorised sin/cos cover moderate arguments; a kernel that meets a huge one
    (or inf/nan) is recomputed with libm, so results stay accurate everywhere."""
    x = T.vector("x", dtype=dtype)
    f = tc.function([x], [T.sin(x), T.cos(x) * 2])
    data = np.linspace(-50, 50, 4 * GRAIN).astype(dtype)
    data[[5, 1000, 7777]] = np.array([1e30, -3e9, 123456.7], dtype=dtype)
    data[9] = np.inf
    s, c = f(data)
    tiny = np.finfo(dtype).eps * 4
    with np.errstate(invalid="ignore"):
        want_s, want_c = np.sin(data), np.cos(data) * 2
    np.testing.assert_allclose(s, want_s, rtol=tiny, atol=tiny)
    np.testing.assert_allclose(c, want_c, rtol=tiny, atol=2 * tiny)
    assert np.isnan(s[9]) and np.isnan(c[9])


def test_kernels_use_vectorised_math() -> None:
    x = T.fvector("x")
    f = tc.function([x], T.tanh(x) * T.exp(-x) + T.log1p(abs(x)))
    optimized = f.dump("llvm-opt")
    definition = next(
        line for line in optimized.splitlines() if line.startswith("define") and "kernel.flat(" in line
    )
    flat = optimized[optimized.index(definition) :]
    flat = flat[: flat.index("\n}\n")]  # the flat (vectorised) loop's function only
    assert "<8 x float>" in flat or "<16 x float>" in flat
    assert "@tanhf" not in flat and "@log1pf" not in flat and "exp" not in flat
