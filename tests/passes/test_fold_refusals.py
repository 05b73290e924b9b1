"""Folding leaves an op whose reference refuses its constant operands, so the call reports
the error as it would for variables (it raised numpy's ValueError at compile time)."""

from __future__ import annotations

import pytest

import tc
from tc import tensor as T


def test_a_reduction_of_an_empty_constant_fails_at_the_call_with_a_tc_error() -> None:
    f = tc.function([], T.min(T.zeros((0, 1), "int32"), axis=(0,), keepdims=True))
    with pytest.raises(tc.TcShapeError, match="tx.reduce at .* needs at least 1 elements along axis 0"):
        f()


def test_folding_that_overflows_stays_quiet() -> None:
    f = tc.function([], T.exp(T.constant(1000.0)))
    assert f() == float("inf")
