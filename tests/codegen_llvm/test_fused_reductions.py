"""Reductions of elementwise kernels: computed inside the reduction's loop, several at once.

`sum(abs(W))` and `sum(W * W)` (a training cost's L1 and L2 terms) read W in
one walk and write no temporary; the results must equal numpy's.
"""

from __future__ import annotations

import numpy as np
import pytest

import tc
import tc.tensor as T

RNG = np.random.default_rng(11)


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_sibling_reductions_of_one_operand(axis: object) -> None:
    w = T.dmatrix("w")
    outputs = [
        T.sum(abs(w), axis=axis),
        T.sum(w * w, axis=axis),
        T.mean(w * 2.0, axis=axis),
        T.max(-w, axis=axis),
    ]
    f = tc.function([w], outputs)
    value = RNG.normal(size=(37, 53))
    expected = [
        np.sum(np.abs(value), axis=axis),
        np.sum(value * value, axis=axis),
        np.mean(value * 2.0, axis=axis),
        np.max(-value, axis=axis),
    ]
    for got, want in zip(f(value), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # fuse made the four one kernel.reduce (codegen follows it: one walk over w)
    ops = [op for op in f.ir_function("tir-opt").body.ops if op.name != "return"]
    assert [op.name for op in ops] == ["kernel.reduce"]
    assert ops[0].kinds == ("sum", "sum", "mean", "max")


def test_fused_reduction_with_a_broadcast_operand_and_a_used_kernel() -> None:
    x, b = T.dmatrix("x"), T.dvector("b")
    shifted = T.exp(x - b)
    f = tc.function([x, b], [T.sum(T.tanh(x + b), axis=1), T.sum(shifted), shifted])
    xv, bv = RNG.normal(size=(5, 7)), RNG.normal(size=7)
    rows, total, kept = f(xv, bv)
    np.testing.assert_allclose(rows, np.tanh(xv + bv).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(total, np.exp(xv - bv).sum(), rtol=1e-12)
    np.testing.assert_allclose(kept, np.exp(xv - bv), rtol=1e-14)
    names = [op.name for op in f.ir_function("tir-opt").body.ops]
    assert names.count("kernel.reduce") == 1 and "tx.reduce" in names  # the kept kernel is not fused


def test_argmax_of_a_kernel_and_empty_sums() -> None:
    x = T.dmatrix("x")
    f = tc.function([x], [T.argmax(x * -1.0, axis=0), T.sum(x * x, axis=0)])
    value = RNG.normal(size=(6, 4))
    arg, sums = f(value)
    np.testing.assert_array_equal(arg, np.argmax(-value, axis=0))
    np.testing.assert_allclose(sums, (value * value).sum(axis=0))
    g = tc.function([x], T.sum(abs(x)))
    assert g(np.zeros((0, 3))) == 0.0
