"""tx.cumsum on the GPU path: the grid emulator against the CPU, and ptxas."""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T

from .harness import fused, needs_ptxas, ptx_of, run_emulated

CASES = [
    ("float64", (5, 7), 1),
    ("float64", (5, 7), 0),
    ("float32", (3, 4, 6), 2),
    ("float32", (3, 4, 6), 1),
    ("int32", (6, 5), 0),
    ("bool", (4, 9), 1),
    ("int8", (10,), 0),
]


@pytest.mark.parametrize(("dtype", "shape", "axis"), CASES)
def test_cumsum_matches_the_cpu(dtype: str, shape: tuple[int, ...], axis: int) -> None:
    x = T.tensor(dtype, (None,) * len(shape), name="x")
    f = tc.function([x], T.cumsum(x, axis=axis))
    value = (np.random.default_rng(0).normal(size=shape) * 10).astype(dtype)
    (got,), _ = run_emulated(fused(f), [value])
    want = f(value)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)  # one element after the other: the same bits


def test_cumsum_of_a_transposed_view() -> None:
    x = T.dmatrix("x")
    f = tc.function([x], T.cumsum(x.T, axis=1))
    value = np.arange(12.0).reshape(3, 4)
    (got,), _ = run_emulated(fused(f), [value])
    np.testing.assert_array_equal(got, np.cumsum(value.T, axis=1))


def test_cumsum_ptx_assembles() -> None:
    needs_ptxas()
    x = T.fmatrix("x")
    f = tc.function([x], T.cumsum(x, axis=0))
    assert "cumsum" in ptx_of(fused(f))


def test_cumsum_gradient_reads_reversed_views() -> None:
    x, w = T.dmatrix("x"), T.dmatrix("w")
    f = tc.function([x, w], T.grad(T.sum(T.cumsum(x, axis=1) * w), x))
    rng = np.random.default_rng(1)
    args = [rng.normal(size=(4, 6)), rng.normal(size=(4, 6))]
    (got,), _ = run_emulated(fused(f), args)
    np.testing.assert_allclose(got, f(*args), rtol=1e-12)
