"""Reductions: native code agrees with the numpy reference for every kind, dtype,
axis set and layout; empty max/min are refused before the call."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tc
from tc import tensor as T
from tc.frontend.lower import build_function_ir
from tc.ir import run_function

KINDS = ["sum", "prod", "mean", "max", "min", "argmax", "argmin"]
DTYPES = ["float64", "float32", "int32", "int8", "uint8", "bool"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_native_reductions_match_the_reference(kind: str, dtype: str, data: st.DataObject) -> None:
    if dtype == "bool" and kind in ("max", "min"):
        return  # a type error, tested below
    rank = data.draw(st.integers(1, 3))
    shape = data.draw(hnp.array_shapes(min_dims=rank, max_dims=rank, min_side=1, max_side=4))
    if kind in ("argmax", "argmin"):
        axis = data.draw(st.none() | st.integers(-rank, rank - 1))
    else:
        axis = data.draw(st.none() | st.integers(-rank, rank - 1) | st.just(tuple(range(rank))[:2]))
    keepdims = data.draw(st.booleans())
    elements = (
        hnp.from_dtype(np.dtype(dtype), allow_nan=True, allow_infinity=True) if "float" in dtype else None
    )
    if kind == "prod" and "float" in dtype:
        # Overflow to inf then a 0 gives nan or 0 depending on the order of the products.
        elements = st.floats(-4, 4, width=32 if dtype == "float32" else 64)
    if kind in ("sum", "mean") and "float" in dtype:
        # A sum within rounding of the largest float overflows or not depending on its order
        # (six float32 5.67e37 did): finite values stay far below it, inf and nan still come.
        width = 32 if dtype == "float32" else 64
        bound = float(np.finfo(dtype).max) / 1024
        elements = st.floats(-bound, bound, width=width) | st.sampled_from([np.inf, -np.inf, np.nan])
    if dtype in ("int32", "int8", "uint8"):
        elements = st.integers(-3 if dtype != "uint8" else 0, 3)  # products stay small
    value = data.draw(hnp.arrays(dtype, shape, elements=elements))
    if data.draw(st.booleans()):
        value = np.swapaxes(value, 0, -1)  # a non-contiguous view
    x = T.tensor(dtype, (None,) * value.ndim, name="x")
    out = getattr(T, kind)(x, axis=axis, keepdims=keepdims)
    f = tc.function([x], out)
    with np.errstate(all="ignore"):
        want = run_function(build_function_ir("f", [x], [out]).functions[0], value)[0]
    got = f(value)
    assert got.dtype == want.dtype and got.shape == want.shape
    if got.dtype.kind == "f":
        # Subnormal results keep fewer significant bits, so a product's order shows there: the
        # absolute tolerance is the smallest normal number.
        rtol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(got, want, rtol=rtol, atol=float(np.finfo(got.dtype).tiny), equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def test_results_follow_numpy() -> None:
    a = np.array([[1.0, np.nan, 3.0], [4.0, -5.0, 6.0]])
    x = T.dmatrix("x")
    f = tc.function([x], [x.max(axis=1), T.argmax(x, axis=1), x.argmin(), x.sum(axis=0), x.mean(axis=1)])
    got = f(a)
    with np.errstate(all="ignore"):
        want = [a.max(axis=1), a.argmax(axis=1), a.argmin(), a.sum(axis=0), a.mean(axis=1)]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    i = T.imatrix("i")
    counts = tc.function([i], [i.sum(), i.mean(axis=0), T.prod(i, axis=1)])(
        np.array([[1, 2], [3, 4]], np.int32)
    )
    assert [c.dtype for c in counts] == [np.int64, np.float64, np.int64]
    assert counts[0] == 10 and counts[1].tolist() == [2.0, 3.0] and counts[2].tolist() == [2, 12]


def test_var_std_and_methods() -> None:
    x = T.dmatrix("x")
    data = np.random.default_rng(0).standard_normal((5, 7))
    var0, std, total = tc.function([x], [x.var(axis=0), T.std(x), x.sum(keepdims=True)])(data)
    np.testing.assert_allclose(var0, data.var(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, data.std(), rtol=1e-12)
    assert total.shape == (1, 1)


def test_empty_max_is_refused_before_the_call() -> None:
    x = T.dmatrix("x")
    f = tc.function([x], x.max(axis=0))
    with pytest.raises(tc.TcShapeError, match="needs at least 1 elements along axis 0, found 0"):
        f(np.zeros((0, 3)))
    assert tc.function([x], x.sum(axis=0))(np.zeros((0, 3))).tolist() == [0.0, 0.0, 0.0]


def test_bad_reductions() -> None:
    x = T.dmatrix("x")
    with pytest.raises(tc.TcError, match="axis 2 is out of range"):
        x.sum(axis=2)
    with pytest.raises(tc.TcError, match="one axis or all of them"):
        T.argmax(T.dtensor3("t"), axis=(0, 1))
    with pytest.raises(tc.TcError, match="max of a bool tensor"):
        T.max(x > 0)
