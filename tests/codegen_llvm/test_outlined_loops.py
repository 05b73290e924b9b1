"""Large entry points left unoptimised, their ops' loops in functions of their own
(codegen_llvm/outline.py, lower._bookkeeping): the same numbers as the optimised inline code,
index checks inside outlined loops still reported, shared state untouched by a failed call."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.codegen_llvm.lower import UNOPTIMISED_HOST_OPS
from tc.ir.errors import TcIndexError

RNG = np.random.default_rng(3)


def _train_step(extra_ops: int):  # type: ignore[no-untyped-def]
    """A softmax-regression step (products, reductions, a gather by label, updates) with
    `extra_ops` more reductions on the cost."""
    x, y = T.dmatrix("x"), T.lvector("y")
    w = tc.shared(np.random.default_rng(0).standard_normal((6, 4)) * 0.1, name="w")
    b = tc.shared(np.zeros(4), name="b")
    p = T.nnet.softmax(T.dot(x, w) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y]) + 0.01 * (w**2).sum()
    for k in range(extra_ops):  # unfused: each a reduction of its own
        cost = cost + 1e-3 * T.sum(T.tanh(w * (k + 1)))
    gw, gb = T.grad(cost, [w, b])
    step = tc.function([x, y], cost, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)])
    return step, w, b


def _entry_point(step) -> str:  # type: ignore[no-untyped-def]
    text = step.dump("llvm")
    return next(line for line in text.splitlines() if line.startswith('define i32 @"tc_'))


def test_a_large_step_is_bookkeeping_with_its_loops_outlined() -> None:
    big, _, _ = _train_step(UNOPTIMISED_HOST_OPS)
    v = T.dvector("v")
    small = tc.function([v], T.sum(T.exp(v)) / T.max(v))
    assert "optnone" in _entry_point(big)
    # One function per reduction: alike ones share one body (merge_functions.py), as aliases.
    pattern = r'define internal i32 @"[^"]*\.tx\.reduce|@"[^"]*\.tx\.reduce[.\d]*" = internal alias'
    outlined = re.findall(pattern, big.dump("llvm"))
    assert len(outlined) >= UNOPTIMISED_HOST_OPS
    assert "optnone" not in _entry_point(small)


def test_outlined_and_inline_code_compute_the_same_training(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = RNG.standard_normal((9, 6)), RNG.integers(0, 4, 9)
    monkeypatch.setenv("TC_CACHE", "0")  # the cache would hand back the first compilation
    runs = []
    for threshold in (UNOPTIMISED_HOST_OPS, 10**6):  # outlined, then inline and optimised
        monkeypatch.setattr("tc.codegen_llvm.lower.UNOPTIMISED_HOST_OPS", threshold)
        step, w, b = _train_step(UNOPTIMISED_HOST_OPS)
        assert ("optnone" in _entry_point(step)) == (threshold == UNOPTIMISED_HOST_OPS)
        costs = [float(step(x, y)) for _ in range(5)]
        runs.append((costs, w.get_value(), b.get_value()))
    (costs, w_out, b_out), (inline_costs, inline_w, inline_b) = runs
    np.testing.assert_allclose(costs, inline_costs, rtol=1e-13)
    np.testing.assert_allclose(w_out, inline_w, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(b_out, inline_b, rtol=1e-13, atol=1e-15)
    assert costs[-1] < costs[0]


@pytest.mark.parametrize("bad", [4, -5, 1000])
def test_a_bad_label_in_an_outlined_gather_is_an_index_error(bad: int) -> None:
    step, w, b = _train_step(UNOPTIMISED_HOST_OPS)
    x = RNG.standard_normal((3, 6))
    before = w.get_value(), b.get_value()
    with pytest.raises(TcIndexError) as info:
        step(x, np.array([0, bad, 1]))
    message = str(info.value)
    assert "out of bounds for axis 1 with size 4" in message and f"index {bad}" in message
    np.testing.assert_array_equal(w.get_value(), before[0])
    np.testing.assert_array_equal(b.get_value(), before[1])
    assert np.isfinite(step(x, np.array([0, 3, 1])))  # the function still works


def test_a_profiled_large_step_times_its_outlined_ops() -> None:
    x, y = T.dmatrix("x"), T.lvector("y")
    w = tc.shared(np.ones((6, 4)), name="w")
    cost = -T.mean(T.log(T.nnet.softmax(T.dot(x, w)))[T.arange(y.shape[0]), y])
    for k in range(UNOPTIMISED_HOST_OPS):
        cost = cost + 1e-3 * T.sum(T.tanh(w * (k + 1)))
    step = tc.function([x, y], cost, profile=True)
    assert "optnone" in _entry_point(step)
    step(RNG.standard_normal((5, 6)), RNG.integers(0, 4, 5))
    report = str(step.profile)
    assert "tx.dot" in report and "tx.reduce" in report and "tx.gather" in report
