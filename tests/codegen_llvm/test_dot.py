"""Matrix products: BLAS for float layouts it accepts, loops for the rest; numpy's results."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tc
from tc import tensor as T

LAYOUTS = ["c", "fortran", "strided", "reversed", "transposed_copy"]


def _layout(array: np.ndarray, layout: str) -> np.ndarray:
    if array.ndim == 0 or layout == "c":
        return array
    if layout == "fortran":
        return np.asfortranarray(array)
    if layout == "strided":
        return np.repeat(array, 2, axis=-1)[..., ::2]
    if layout == "reversed":
        return np.ascontiguousarray(array[::-1])[::-1]
    return array.T.copy().T


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "bool"])
@pytest.mark.parametrize("ranks", [(2, 2), (2, 1), (1, 2), (1, 1)])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_dot_matches_numpy(dtype: str, ranks: tuple[int, int], data: st.DataObject) -> None:
    m, k, n = (data.draw(st.integers(0, 6)) for _ in range(3))
    shape_a = (m, k) if ranks[0] == 2 else (k,)
    shape_b = (k, n) if ranks[1] == 2 else (k,)
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    a = (rng.standard_normal(shape_a) * 3).astype(dtype)
    b = (rng.standard_normal(shape_b) * 3).astype(dtype)
    a = _layout(a, data.draw(st.sampled_from(LAYOUTS)))
    b = _layout(b, data.draw(st.sampled_from(LAYOUTS)))
    x = T.tensor(dtype, (None,) * ranks[0], name="a")
    y = T.tensor(dtype, (None,) * ranks[1], name="b")
    got = tc.function([x, y], T.dot(x, y))(a, b)
    want = np.asarray(np.dot(a, b))
    assert got.dtype == want.dtype and got.shape == want.shape
    if dtype.startswith("float"):
        np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == "float32" else 1e-12, atol=1e-4)
    else:
        np.testing.assert_array_equal(got, want)


def test_large_products_agree_with_numpy() -> None:
    a, b = T.dmatrix("a"), T.fmatrix("b")
    rng = np.random.default_rng(0)
    av, bv = rng.standard_normal((300, 200)), rng.standard_normal((200, 100)).astype(np.float32)
    got = tc.function([a, b], a @ b)(av, bv)  # float32 promoted to float64, then dgemm
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, av @ bv.astype(np.float64), rtol=1e-10)


def test_mismatched_inner_dimensions() -> None:
    with pytest.raises(tc.TcShapeError, match="contracted dimension"):
        T.dot(T.tensor("float64", (2, 3)), T.tensor("float64", (4, 2)))
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = tc.function([a, b], T.dot(a, b))
    with pytest.raises(tc.TcShapeError, match="tx.dot"):
        f(np.ones((2, 3)), np.ones((4, 2)))


def test_transposes_and_dimshuffles_are_views() -> None:
    a, v, r = T.dmatrix("a"), T.dvector("v"), T.drow("r")
    f = tc.function(
        [a, v, r],
        [
            a.T,
            T.dot(a.T, a),
            v.dimshuffle("x", 0) + a,
            a.dimshuffle(1, "x", 0),
            r.dimshuffle(1),
            T.exp(a.T) * 2,
            T.transpose(a, (1, 0)),
        ],
    )
    av, vv, rv = np.arange(6.0).reshape(2, 3), np.arange(3.0), np.ones((1, 4))
    want = [av.T, av.T @ av, vv[None, :] + av, av.T[:, None, :], rv[0], np.exp(av.T) * 2, av.T]
    for got, expected in zip(f(av, vv, rv), want, strict=True):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected)
    assert "tx.dimshuffle" in f.dump("tir-opt")


def test_bad_dimshuffles() -> None:
    with pytest.raises(tc.TcTypeError, match="can only be dropped if its length is 1"):
        T.dmatrix("m").dimshuffle(0)
    with pytest.raises(tc.TcTypeError, match="not a pattern"):
        T.dmatrix("m").dimshuffle(0, 0)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32"])
def test_batched_dot_and_matmul_of_3d_tensors(dtype: str) -> None:
    a, b = T.tensor3("a", dtype=dtype), T.tensor3("b", dtype=dtype)
    f = tc.function([a, b], [T.batched_dot(a, b), a @ b])
    rng = np.random.default_rng(4)
    x, y = (rng.random((4, 3, 5)) * 10).astype(dtype), (rng.random((4, 5, 2)) * 10).astype(dtype)
    for got in f(x, y):
        np.testing.assert_allclose(got, np.matmul(x, y), rtol=1e-5)
    # strided and transposed batches (BLAS takes either layout; loops the rest)
    got = f(x[:, ::-1], y.transpose(0, 2, 1).copy().transpose(0, 2, 1))[0]
    np.testing.assert_allclose(got, np.matmul(x[:, ::-1], y), rtol=1e-5)
    with pytest.raises(tc.TcShapeError, match="'a' has size 4 on axis 0 but argument 'b' has size 3"):
        f(x, y[:3])


def test_batched_dot_gradient() -> None:
    from tc.gradient import verify_grad

    rng = np.random.default_rng(5)
    verify_grad(lambda a, b: T.batched_dot(a, b), [rng.random((3, 2, 4)), rng.random((3, 4, 5))])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_products_of_views_blas_cannot_take_are_packed_first(dtype: str) -> None:
    """Reversed and strided views (negative strides) are copied into contiguous buffers and
    multiplied by BLAS; the results are the same products."""
    X, D, v = T.matrix("X", dtype=dtype), T.matrix("D", dtype=dtype), T.vector("v", dtype=dtype)
    outputs = [
        T.dot(X.T, D[::-1]),
        T.dot(X[::-1], D[:, ::-1].T),
        T.dot(v[::-1], D.T),
        T.dot(X[::-2], D.T[:, ::-1]),
    ]
    f = tc.function([X, D, v], outputs)
    rng = np.random.default_rng(5)
    x, d = rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal((7, 5)).astype(dtype)
    vv = rng.standard_normal(5).astype(dtype)
    expected = [x.T @ d[::-1], x[::-1] @ d[:, ::-1].T, vv[::-1] @ d.T, x[::-2] @ d.T[:, ::-1]]
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    for found, want in zip(f(x, d, vv), expected, strict=True):
        np.testing.assert_allclose(found, want, rtol=tolerance, atol=tolerance)
