"""Long kernels call their vectorisable math out of line (vector_calls.vector_math_function):
same bits as the inline math, and the loop still calls the vector versions."""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.codegen_llvm import kernel_body


def long_kernel(dtype: str):  # type: ignore[no-untyped-def]
    """Every outlinable function, over and over: one kernel well past the outlining bound."""
    x = T.vector("x", dtype=dtype)
    y = x
    for _ in range(4):
        y = T.tanh(y) + T.exp(y * 0.5) * 0.1 - T.log(abs(y) + 1.5)
        y = y + T.log1p(abs(y)) * 0.2 + T.expm1(y * 0.1)
    return x, y


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_outlined_math_gives_the_inline_bits(dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_CACHE", "0")  # the cache would hand back the first compilation
    data = np.random.default_rng(0).normal(size=1003).astype(dtype)
    data[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, 30.0]
    x, y = long_kernel(dtype)
    outlined = tc.function([x], y)
    assert "tc.vecmath.tanh" in outlined.dump("llvm")
    monkeypatch.setattr(kernel_body, "OUTLINE_MATH_ABOVE_OPS", 10**9)
    inline = tc.function([x], y)
    assert "tc.vecmath" not in inline.dump("llvm")
    np.testing.assert_array_equal(outlined(data), inline(data))


def test_vectorised_loop_calls_the_vector_versions() -> None:
    x, y = long_kernel("float64")
    optimized = tc.function([x], y).dump("llvm-opt")
    assert "vector-function-abi-variant" in optimized
    assert "x double> @tc.vecmath.tanh.f64.v" in optimized  # a call with a vector result
