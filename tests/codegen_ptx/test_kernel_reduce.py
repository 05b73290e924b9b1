"""kernel.reduce on the GPU: its body as an elementwise kernel into temporaries, then one
reduction per result, run in the grid emulator against the CPU, and its PTX through ptxas."""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T

from . import harness


def _sum_abs_and_squares():  # type: ignore[no-untyped-def]
    w = T.matrix("w")
    return [w], T.sum(abs(w)) + T.sum(w * w), [(5, 3)]


def _column_sums():  # type: ignore[no-untyped-def]
    x = T.fmatrix("x")
    return [x], T.sum(x * x, axis=0, keepdims=True), [(7, 4)]


def _argmax_of_a_kernel():  # type: ignore[no-untyped-def]
    x = T.matrix("x")
    return [x], T.argmax(x * 2 - 1, axis=1), [(4, 6)]


def _mean_and_max_of_a_broadcast():  # type: ignore[no-untyped-def]
    x, b = T.matrix("x"), T.vector("b")
    return [x, b], [T.mean(T.exp(x + b), axis=1), T.max(x * b, axis=0)], [(3, 5), (5,)]


def _scalar_operand():  # type: ignore[no-untyped-def]
    x, s = T.matrix("x"), T.scalar("s")
    return [x, s], T.sum(x * s, axis=1), [(4, 3), ()]


CASES = [
    _sum_abs_and_squares,
    _column_sums,
    _argmax_of_a_kernel,
    _mean_and_max_of_a_broadcast,
    _scalar_operand,
]


def _arguments(inputs, shapes):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    return [rng.standard_normal(s).astype(v.dtype) for v, s in zip(inputs, shapes, strict=True)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.strip("_"))
def test_kernel_reduce_in_the_emulator_matches_the_cpu(case) -> None:  # type: ignore[no-untyped-def]
    inputs, outputs, shapes = case()
    cpu = tc.function(inputs, outputs)
    fused = harness.fused(cpu)
    assert "kernel.reduce" in [op.name for op in fused.body.ops]
    args = _arguments(inputs, shapes)
    expected = cpu(*args)
    expected = expected if isinstance(expected, list) else [expected]
    got, _ = harness.run_emulated(fused, args)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-5)


def test_sibling_reductions_as_a_function_on_the_emulated_device() -> None:
    inputs, outputs, shapes = _sum_abs_and_squares()
    args = _arguments(inputs, shapes)
    emulated = tc.function(inputs, outputs, device="emulated")
    np.testing.assert_allclose(emulated(*args), tc.function(inputs, outputs)(*args), rtol=1e-12)


def test_an_empty_max_is_an_error_naming_the_kernel() -> None:
    inputs, outputs, _ = _mean_and_max_of_a_broadcast()
    fused = harness.fused(tc.function(inputs, outputs))
    with pytest.raises(tc.TcValueError, match="kernel.reduce max at .*needs at least one element"):
        harness.run_emulated(fused, [np.zeros((0, 5)), np.zeros(5)])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.strip("_"))
def test_kernel_reduce_ptx(case) -> None:  # type: ignore[no-untyped-def]
    inputs, outputs, _ = case()
    ptx = harness.ptx_of(harness.fused(tc.function(inputs, outputs)))
    assert "reduce_body" in ptx
