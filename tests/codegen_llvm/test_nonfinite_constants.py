"""Constants holding inf, -inf, nan or -0.0 compile, fold, print and parse back.

The shape plan read every rank-1 constant as a possible shape vector and
turned it into integers, so `x + [0., -inf]` failed to compile."""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.ir import parse_module, print_module

VALUES = [np.array([0.0, -np.inf]), np.array([np.nan, np.inf, -0.0]), np.float64(np.inf)]


@pytest.mark.parametrize("value", VALUES, ids=["neg-inf", "nan-inf-negzero", "scalar-inf"])
def test_nonfinite_constant_operands(value: np.ndarray) -> None:
    x = T.dvector("x")
    f = tc.function([x], x + value)
    data = np.arange(1.0, 1.0 + np.size(value))
    np.testing.assert_array_equal(f(data), data + value)
    text = f.dump("tir-opt")
    assert print_module(parse_module(text)) == text


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_folding_that_produces_inf_and_nan(dtype: str) -> None:
    x = T.vector("x", dtype=dtype)
    folded = T.log(T.constant(np.array([0.0, 1.0, -1.0], dtype=dtype)))
    f = tc.function([x], x + folded)
    with np.errstate(all="ignore"):
        expected = np.ones(3, dtype) + np.log(np.array([0.0, 1.0, -1.0], dtype))
    np.testing.assert_array_equal(f(np.ones(3, dtype)), expected)


def test_nonfinite_literals_in_tx(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "m.tx"
    source.write_text("fn f(x: f64[3]) -> f64[3] {\n    return x + [0.0, -inf, nan]\n}\n")
    module = tc.compile_file(str(source))
    np.testing.assert_array_equal(module.f(np.ones(3)), np.array([1.0, -np.inf, np.nan]))
