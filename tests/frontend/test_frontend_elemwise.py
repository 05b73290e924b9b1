"""Every T.* math function builds the IR op whose reference matches numpy."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import tc.ir as ir
from tc import tensor as T
from tc.frontend import build_function_ir

X = np.array([-2.5, -0.5, 0.0, 0.25, 0.5, 1.5, 2.5, 3.0])
UNIT = np.array([-0.9, -0.5, 0.0, 0.25, 0.5, 0.9])
POSITIVE = np.array([0.1, 0.5, 1.0, 2.0, 10.0])


def evaluate(build: Callable[..., T.Variable], *arrays: np.ndarray) -> np.ndarray:
    inputs = [T.tensor(a.dtype.name, (None,) * a.ndim, name=f"a{i}") for i, a in enumerate(arrays)]
    (out,) = ir.run(build_function_ir("f", inputs, [build(*inputs)]), "f", *arrays)
    return out


@pytest.mark.parametrize(
    "function, reference, data",
    [
        (T.sin, np.sin, X),
        (T.cos, np.cos, X),
        (T.tan, np.tan, X),
        (T.arcsin, np.arcsin, UNIT),
        (T.arccos, np.arccos, UNIT),
        (T.arctan, np.arctan, X),
        (T.sinh, np.sinh, X),
        (T.cosh, np.cosh, X),
        (T.tanh, np.tanh, X),
        (T.exp, np.exp, X),
        (T.exp2, np.exp2, X),
        (T.expm1, np.expm1, X),
        (T.log, np.log, POSITIVE),
        (T.log2, np.log2, POSITIVE),
        (T.log10, np.log10, POSITIVE),
        (T.log1p, np.log1p, POSITIVE),
        (T.sqrt, np.sqrt, POSITIVE),
        (T.sqr, np.square, X),
        (T.abs, np.abs, X),
        (T.abs_, np.abs, X),
        (T.sgn, np.sign, X),
        (T.sign, np.sign, X),
        (T.floor, np.floor, X),
        (T.ceil, np.ceil, X),
        (T.round, np.round, X),
        (T.deg2rad, np.deg2rad, X),
        (T.rad2deg, np.rad2deg, X),
        (T.neg, np.negative, X),
        (T.sigmoid, lambda v: 1 / (1 + np.exp(-v)), X),
        (T.softplus, lambda v: np.log1p(np.exp(v)), X),
        (T.erf, np.vectorize(math.erf), X),
        (T.nnet.relu, lambda v: np.maximum(v, 0), X),
    ],
)
def test_unary(function: Callable[..., T.Variable], reference: Callable, data: np.ndarray) -> None:
    np.testing.assert_allclose(evaluate(function, data), reference(data), rtol=1e-14, atol=1e-15)


A = np.array([-3.0, -1.5, 0.5, 2.0, 7.0])
B = np.array([2.0, 0.5, -2.0, 3.0, 2.0])


@pytest.mark.parametrize(
    "function, reference",
    [
        (T.add, np.add),
        (T.sub, np.subtract),
        (T.mul, np.multiply),
        (T.true_div, np.true_divide),
        (T.floor_div, np.floor_divide),
        (T.int_div, np.floor_divide),
        (T.mod, np.remainder),
        (T.pow, np.power),
        (T.maximum, np.maximum),
        (T.minimum, np.minimum),
        (T.arctan2, np.arctan2),
        (T.eq, np.equal),
        (T.neq, np.not_equal),
        (T.lt, np.less),
        (T.le, np.less_equal),
        (T.gt, np.greater),
        (T.ge, np.greater_equal),
    ],
)
def test_binary(function: Callable[..., T.Variable], reference: Callable) -> None:
    with np.errstate(invalid="ignore"):
        expected = reference(A, B)
    np.testing.assert_allclose(evaluate(function, A, B), expected, rtol=1e-14)


def test_integer_and_bool_logic() -> None:
    i = np.array([0b1100, 0b1010, -1], np.int32)
    j = np.array([0b1010, 0b0110, 5], np.int32)
    np.testing.assert_array_equal(evaluate(T.and_, i, j), i & j)
    np.testing.assert_array_equal(evaluate(T.or_, i, j), i | j)
    np.testing.assert_array_equal(evaluate(T.xor, i, j), i ^ j)
    np.testing.assert_array_equal(evaluate(T.invert, i), ~i)
    p = np.array([True, True, False, False])
    q = np.array([True, False, True, False])
    np.testing.assert_array_equal(evaluate(lambda a, b: a + b, p, q), p | q)
    np.testing.assert_array_equal(evaluate(lambda a, b: a * b, p, q), p & q)
    np.testing.assert_array_equal(evaluate(lambda a: ~a, p), ~p)


def test_round_modes() -> None:
    ties = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
    np.testing.assert_array_equal(evaluate(T.round, ties), [-2, -2, -0, 0, 2, 2])
    away = evaluate(lambda v: T.round(v, mode="half_away_from_zero"), ties)
    np.testing.assert_array_equal(away, [-3, -2, -1, 1, 2, 3])
    with pytest.raises(ir.TcValueError):
        T.round(T.vector(), mode="up")


def test_clip_switch_where() -> None:
    np.testing.assert_array_equal(evaluate(lambda v: T.clip(v, -1, 2), A), np.clip(A, -1, 2))
    c = np.array([0, 1, 2, 0, -1], np.int64)
    got = evaluate(lambda k, a, b: T.switch(k, a, b), c, A, B)
    np.testing.assert_array_equal(got, np.where(c != 0, A, B))
    got = evaluate(lambda a, b: T.where(a > b, a, 0.0), A, B)
    np.testing.assert_array_equal(got, np.where(A > B, A, 0.0))


def test_cast_saturates() -> None:
    got = evaluate(lambda v: T.cast(v * 100, "int8"), A)
    np.testing.assert_array_equal(got, np.array([-128, -128, 50, 127, 127], np.int8))


def test_clip_computes_in_the_dtype_of_all_three_operands() -> None:
    """numpy's clip(float32, 0.001, float64) compares with 0.001 in float64; tc rounded the bound
    to float32 first (found by the differential fuzzer)."""
    import numpy as np

    import tc

    x = T.fmatrix("x")
    y = T.clip(x, 0.001, np.float64(np.inf))
    assert y.type.dtype.numpy == np.float64
    assert tc.function([x], y)(np.array([[-3.0]], np.float32)).item() == 0.001
