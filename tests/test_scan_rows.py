"""Scans whose rows are independent problems (an RNN over a minibatch) run as one loop per
range of rows, the ranges spread over the cores (ir/scan_rows.py, codegen_llvm/scan.py):
which steps qualify, and that the results are numpy's and the same bits on one thread and
on two."""

from __future__ import annotations

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.ir.ops.scan import Scan
from tc.ir.scan_rows import independent_rows
from tc.random import RandomStreams

RNG = np.random.default_rng(20261202)


def _scan_of(f: tc.Function) -> Scan:
    return next(op for op in f.ir_function().body.ops if isinstance(op, Scan))


def _rnn() -> tc.Function:
    X, h0 = T.ftensor3("X"), T.fmatrix("h0")
    W, U, b = T.fmatrix("W"), T.fmatrix("U"), T.fvector("b")
    hs, _ = tc.scan(
        lambda x, h, W, U, b: T.tanh(T.dot(x, W) + T.dot(h, U) + b),
        sequences=X,
        outputs_info=h0,
        non_sequences=[W, U, b],
    )
    return tc.function([X, h0, W, U, b], [hs, hs[-1]])


def _rnn_data(steps: int, batch: int, features: int = 24, hidden: int = 64) -> list[np.ndarray]:
    def normal(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (RNG.standard_normal(shape) * scale).astype(np.float32)

    return [
        normal(steps, batch, features),
        normal(batch, hidden),
        normal(features, hidden, scale=0.3),
        normal(hidden, hidden, scale=0.15),
        normal(hidden),
    ]


def _numpy_rnn(x: np.ndarray, h: np.ndarray, W: np.ndarray, U: np.ndarray, b: np.ndarray) -> np.ndarray:
    states = []
    for row in x.astype(np.float64):
        h = np.tanh(row @ W + h @ U + b)
        states.append(h)
    return np.array(states)


def _same_bits_on_one_and_two_threads(f: tc.Function, data: list[np.ndarray]) -> list[np.ndarray]:
    native = f._code_owner
    runs = []
    for threads in (1, 2, 1):
        native.set_num_threads(threads)
        runs.append(f(*data))
    for one, two in zip(runs[0], runs[1], strict=True):
        assert one.tobytes() == two.tobytes()
    return runs[1]


@pytest.mark.parametrize("batch", [32, 40, 7])
def test_an_rnn_over_a_minibatch_runs_its_rows_apart_with_numpys_results(batch: int) -> None:
    """32 rows of 64: two ranges of 16 (on two threads); 40: 24 and 16; 7: fewer than two
    product tiles, the serial loop."""
    f = _rnn()
    assert independent_rows(_scan_of(f))
    assert "scan.rows" in f.dump("llvm")
    data = _rnn_data(300, batch)
    hs, last = _same_bits_on_one_and_two_threads(f, data)
    expected = _numpy_rnn(*data)
    np.testing.assert_allclose(hs, expected, rtol=2e-5, atol=2e-5)
    np.testing.assert_array_equal(last, hs[-1])


def test_two_taps_backwards_and_a_last_value_only_state_split_by_rows() -> None:
    """A state with taps -2 and -1, read backwards, beside one whose last value alone is kept
    (double-buffered): every slot's rows are windowed alike."""
    X, init = T.tensor3("X"), T.tensor3("init")
    a0, V = T.matrix("a0"), T.matrix("V")

    def step(x, two_back, one_back, a, V):  # type: ignore[no-untyped-def]
        return [T.tanh(x + 0.5 * two_back - 0.25 * one_back), a * 0.9 + T.dot(x, V)]

    (hs, acc), _ = tc.scan(
        step,
        sequences=X,
        outputs_info=[dict(initial=init, taps=[-2, -1]), a0],
        non_sequences=V,
        go_backwards=True,
    )
    f = tc.function([X, init, a0, V], [hs, acc[-1]])
    assert independent_rows(_scan_of(f))
    steps, batch, width = 500, 24, 48  # two ranges of rows: 16 and 8
    x = RNG.standard_normal((steps, batch, width))
    start, a = RNG.standard_normal((2, batch, width)), RNG.standard_normal((batch, width))
    v = RNG.standard_normal((width, width))
    hs_got, acc_got = _same_bits_on_one_and_two_threads(f, [x, start, a, v])
    history = [start[0], start[1]]
    for row in x[::-1]:
        history.append(np.tanh(row + 0.5 * history[-2] - 0.25 * history[-1]))
        a = a * 0.9 + row @ v
    np.testing.assert_allclose(hs_got, history[2:], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acc_got, a, rtol=1e-10)


def _step_rows(step) -> bool:  # type: ignore[no-untyped-def]
    X, h0, M = T.tensor3("X"), T.matrix("h0"), T.matrix("M")
    hs, _ = tc.scan(step, sequences=X, outputs_info=h0, non_sequences=M)
    return independent_rows(_scan_of(tc.function([X, h0, M], hs, on_unused_input="ignore")))


def test_which_steps_keep_their_rows_apart() -> None:
    assert _step_rows(lambda x, h, M: T.tanh(x + T.dot(h, M)))
    assert _step_rows(lambda x, h, M: h * M.sum(axis=0) + x)
    # a row's value reads other rows: a sum over the batch, a product with the state on the right
    assert not _step_rows(lambda x, h, M: x + h.sum(axis=0))
    assert not _step_rows(lambda x, h, M: x + T.dot(M, h))
    # a non-sequence of the state's rank whose rows may be the batch's
    assert not _step_rows(lambda x, h, M: x + h * M)


def test_steps_that_stop_early_or_draw_random_numbers_keep_one_loop() -> None:
    X, h0 = T.tensor3("X"), T.matrix("h0")
    hs, _ = tc.scan(lambda x, h: (x + h, tc.scan_module.until(T.sum(h) > 1e9)), sequences=X, outputs_info=h0)
    stops = tc.function([X, h0], hs)
    assert not independent_rows(_scan_of(stops))
    assert "scan.rows" not in stops.dump("llvm")
    streams = RandomStreams(seed=3)
    noisy, updates = tc.scan(lambda x, h: x + h * streams.uniform(h.shape), sequences=X, outputs_info=h0)
    draws = tc.function([X, h0], noisy, updates=updates)
    assert not independent_rows(_scan_of(draws))


def test_the_rnn_gradient_over_a_minibatch_runs_both_loops_by_rows() -> None:
    """The backward loop sums the bias's gradient over the batch after the loop, not at every
    step (passes/simplify_loops.py), so its rows stay apart too; every gradient is numpy's
    backpropagation through time, and the same bits on one thread and on two."""
    f = _rnn_cost_and_gradients()
    scans = [op for op in f.ir_function().body.ops if isinstance(op, Scan)]
    assert len(scans) == 2 and all(independent_rows(op) for op in scans)
    data = _rnn_data(200, 32)
    got = _same_bits_on_one_and_two_threads(f, data)
    _assert_numpys_gradients(got, data)


@pytest.mark.parametrize(("batch", "features", "hidden"), [(0, 3, 5), (4, 0, 5), (4, 3, 0)])
def test_the_rnn_gradient_over_a_minibatch_with_an_empty_dimension(
    batch: int, features: int, hidden: int
) -> None:
    """The weight's gradient summed after the loop takes every step's batch as one matrix of
    rows; with no features or no hidden units the row count is still steps x batch."""
    data = _rnn_data(3, batch, features, hidden)
    _assert_numpys_gradients(_rnn_cost_and_gradients()(*data), data)


def _rnn_cost_and_gradients() -> tc.Function:
    X, h0 = T.ftensor3("X"), T.fmatrix("h0")
    W, U, b = T.fmatrix("W"), T.fmatrix("U"), T.fvector("b")
    hs, _ = tc.scan(
        lambda x, h, W, U, b: T.tanh(T.dot(x, W) + T.dot(h, U) + b),
        sequences=X,
        outputs_info=h0,
        non_sequences=[W, U, b],
    )
    cost = hs.sum()
    return tc.function([X, h0, W, U, b], [cost, *T.grad(cost, [W, U, b])])


def _assert_numpys_gradients(got: list[np.ndarray], data: list[np.ndarray]) -> None:
    """`got` is the cost and the gradients of W, U and b: numpy's backpropagation through time."""
    x, h, W_, U_, b_ = (a.astype(np.float64) for a in data)
    states = _numpy_rnn(x, h, W_, U_, b_)
    before = np.concatenate([h[None], states[:-1]])
    grads = [np.zeros_like(W_), np.zeros_like(U_), np.zeros_like(b_)]
    carry = np.zeros_like(h)
    for t in reversed(range(len(x))):
        delta = (1.0 + carry) * (1.0 - states[t] ** 2)
        grads[0] += x[t].T @ delta
        grads[1] += before[t].T @ delta
        grads[2] += delta.sum(axis=0)
        carry = delta @ U_.T
    np.testing.assert_allclose(got[0], states.sum(), rtol=1e-4)
    for mine, want in zip(got[1:], grads, strict=True):
        assert mine.shape == want.shape
        np.testing.assert_allclose(mine, want, rtol=2e-3, atol=2e-3 * np.abs(want).max(initial=0.0))
