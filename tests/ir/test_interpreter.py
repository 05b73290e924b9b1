"""The IR interpreter (the oracle of every backend) fails like the native code: a TcError
located at the op, never numpy's own exception."""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.frontend.lower import build_function_ir
from tc.ir import run_function


def interpret(inputs, outputs, *args):  # type: ignore[no-untyped-def]
    return run_function(build_function_ir("f", inputs, outputs).functions[0], *args)


def test_a_reduction_without_identity_over_an_empty_axis_is_a_located_tc_error() -> None:
    x = T.dmatrix("x")
    with pytest.raises(tc.TcValueError, match=r"tx.reduce at .*zero-size array"):
        interpret([x], [T.min(x, axis=0)], np.zeros((0, 3)))


def test_erf_of_a_scalar() -> None:
    x = T.fscalar("x")
    (result,) = interpret([x], [T.erf(x)], np.float32(0.5))
    assert result.dtype == np.float32 and abs(result - 0.5204999) < 1e-6


def test_float_pow_is_c99_pow_in_the_interpreter_too() -> None:
    """numpy computes x ** 0.5 as sqrt for a scalar exponent ((-inf) ** 0.5 -> nan); the
    native code and the reference follow C99 pow (inf)."""
    x, s = T.dvector("x"), T.dscalar("s")
    data = np.array([-np.inf, 4.0, -0.0])
    (vector,) = interpret([x], [x**0.5], data)
    (scalar,) = interpret([s], [s**0.5], np.array(-np.inf))
    native = tc.function([x], x**0.5)(data)
    np.testing.assert_array_equal(vector, native)
    assert vector[0] == np.inf and scalar == np.inf


def test_dot_in_the_interpreter_keeps_ieee_products() -> None:
    """BLAS behind np.dot may skip a zero factor (0 * nan = 0); the reference must not."""
    a, b = T.dmatrix("a"), T.dmatrix("b")
    left, right = np.array([[-np.inf], [0.5]]), np.array([[0.0]])
    (result,) = interpret([a, b], [T.dot(a, b)], left, right)
    np.testing.assert_array_equal(result, tc.function([a, b], T.dot(a, b))(left, right))
    assert np.isnan(result[0, 0])
    x, y = T.dvector("x"), T.ivector("y")
    infinities, weights = np.full(3, np.inf), np.array([6, 0, -6], np.int32)  # inf * 0 and inf - inf
    (total,) = interpret([x, y], [T.dot(x, y)], infinities, weights)
    assert np.isnan(total) and np.isnan(tc.function([x, y], T.dot(x, y))(infinities, weights))
