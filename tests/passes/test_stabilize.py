"""stabilize: naive log-of-probability graphs give finite, correct results at logits of +-1000.

Each test compiles the same graph twice, with the default pipeline and with
`stabilize` left out, to show both that the naive graph really fails there
and that the pass is what fixes it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.frontend.graph import Variable
from tc.frontend.lower import build_function_ir
from tc.passes import PASS_REGISTRY, run_pipeline

compile_module = importlib.import_module("tc.compile")
LOGITS = np.array([-1000.0, -30.0, -1.0, 0.0, 1e-3, 2.0, 40.0, 1000.0])


def both(inputs: Sequence[Variable], outputs: Sequence[Variable], args: Sequence[np.ndarray]) -> tuple:
    """(stabilized results, naive results) of the same graph."""
    stable = tc.function(list(inputs), list(outputs))(*args)
    naive_optimize = tuple(p for p in compile_module.OPTIMIZE_PIPELINE if p != "stabilize")
    saved = compile_module.OPTIMIZE_PIPELINE
    compile_module.OPTIMIZE_PIPELINE = naive_optimize
    try:
        naive = tc.function(list(inputs), list(outputs))(*args)
    finally:
        compile_module.OPTIMIZE_PIPELINE = saved
    return stable, naive


def softplus(a: np.ndarray) -> np.ndarray:
    return np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))


def test_stabilize_runs_first_in_the_pipeline() -> None:
    assert "stabilize" in PASS_REGISTRY and "expand-nnet" in PASS_REGISTRY
    assert compile_module.OPTIMIZE_PIPELINE[0] == "stabilize"
    x = T.dmatrix("x")
    stages, _ = compile_module.optimize_module(build_function_ir("f", [x], [T.nnet.softmax(x)]))
    assert "tx.softmax" in stages["tir"] and "tx.softmax" not in stages["tir-opt"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_log_of_softmax(dtype: str) -> None:
    x = T.matrix("x", dtype=dtype)
    logits = np.stack([LOGITS, LOGITS[::-1]]).astype(dtype)
    (stable,), (naive,) = both([x], [T.log(T.nnet.softmax(x))], [logits])
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    want = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert np.all(np.isfinite(stable)) and np.isneginf(naive).any()
    np.testing.assert_allclose(stable, want, rtol=1e-6 if dtype == "float32" else 1e-13)


def test_categorical_crossentropy_of_softmax() -> None:
    x, t = T.dmatrix("x"), T.dmatrix("t")
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, -1000.0]])
    target = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    (stable,), (naive,) = both(
        [x, t], [T.nnet.categorical_crossentropy(T.nnet.softmax(x), t)], [logits, target]
    )
    np.testing.assert_allclose(stable, [0.5 * 1000 + 0.5 * 2000, 1000.0])
    assert not np.all(np.isfinite(naive))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_log_of_sigmoid(dtype: str) -> None:
    x = T.vector("x", dtype=dtype)
    logits = LOGITS.astype(dtype)
    (a, b), (naive_a, naive_b) = both([x], [T.log(T.nnet.sigmoid(x)), T.log(1 - T.nnet.sigmoid(x))], [logits])
    wide = logits.astype(np.float64)
    rtol = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(a, -softplus(-wide), rtol=rtol)
    np.testing.assert_allclose(b, -softplus(wide), rtol=rtol)
    assert np.isneginf(naive_a[0]) and np.isneginf(naive_b[-1])


def test_binary_crossentropy_of_sigmoid_and_its_gradient() -> None:
    x, t = T.dvector("x"), T.dvector("t")
    target = np.linspace(0, 1, LOGITS.size)
    cost = T.nnet.binary_crossentropy(T.nnet.sigmoid(x), t)
    (stable, grad), (naive, _) = both([x, t], [cost, T.grad(cost.mean(), x)], [LOGITS, target])
    # -(t log s(x) + (1 - t) log(1 - s(x))) = softplus(x) - t x, exactly.
    np.testing.assert_allclose(stable, softplus(LOGITS) - target * LOGITS, rtol=1e-12, atol=1e-300)
    with np.errstate(over="ignore"):
        sigmoid = 1 / (1 + np.exp(-LOGITS))
    np.testing.assert_allclose(grad, (sigmoid - target) / LOGITS.size, rtol=1e-12, atol=1e-300)
    assert not np.all(np.isfinite(naive))


def test_log_of_one_plus_x() -> None:
    x = T.dvector("x")
    small = np.array([1e-20, -1e-17, 3e-10, 1.0])
    (a, b), (naive, _) = both([x], [T.log(1 + x), T.log(x + 1.0)], [small])
    np.testing.assert_array_equal(a, np.log1p(small))
    np.testing.assert_array_equal(b, np.log1p(small))
    assert naive[0] == 0.0  # 1 + 1e-20 rounds to 1: every digit is lost


def test_handwritten_log_sum_exp() -> None:
    x = T.dmatrix("x")
    logits = np.stack([LOGITS, LOGITS - 2000.0, np.full(LOGITS.size, -np.inf)])
    outs = [T.log(T.exp(x).sum(axis=1)), T.log(T.sum(T.exp(x), axis=0, keepdims=True)), T.log(T.exp(x).sum())]
    (rows, cols, total), (naive_rows, _, naive_total) = both([x], outs, [logits])
    want_rows = np.array([1000.0 + np.log1p(np.exp(-960.0)), -1000.0 + np.log1p(np.exp(-960.0)), -np.inf])
    np.testing.assert_allclose(rows, want_rows, rtol=1e-14)
    assert cols.shape == (1, LOGITS.size) and np.all(np.isfinite(cols))
    np.testing.assert_allclose(cols[0], LOGITS, rtol=1e-14)
    np.testing.assert_allclose(total, 1000.0, rtol=1e-14)
    assert naive_rows[0] == np.inf and naive_total == np.inf


def test_stabilized_module_matches_the_interpreter() -> None:
    """The rewritten IR, folded by the reference semantics, gives the stable values too."""
    x = T.dvector("x")
    module = build_function_ir("f", [x], [T.log(T.nnet.sigmoid(x)), T.log(T.exp(x).sum())])
    run_pipeline(module, "stabilize,expand-nnet,canonicalize")
    got = tc.ir.run_function(module.functions[0], LOGITS)
    np.testing.assert_allclose(got[0], -softplus(-LOGITS), rtol=1e-13)
    np.testing.assert_allclose(got[1], 1000.0, rtol=1e-14)


def test_handwritten_softmax_and_its_log() -> None:
    x = T.dmatrix("x")
    e = T.exp(x)
    by_rows = e / e.sum(axis=1).dimshuffle(0, "x")  # the deeplearning.net tutorial's spelling
    by_cols = e / T.sum(e, axis=0, keepdims=True)
    logits = np.array([[1000.0, 0.0, -1000.0], [2.0, 1.0, 1000.0]])
    (rows, cols, log_rows), (naive_rows, _, naive_log) = both(
        [x], [by_rows, by_cols, T.log(by_rows)], [logits]
    )
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.testing.assert_allclose(
        rows, np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True), atol=1e-300
    )
    np.testing.assert_allclose(log_rows, shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))
    middle = 1 / (1 + np.e)  # column 1 holds 0 and 1
    np.testing.assert_allclose(cols, [[1.0, middle, 0.0], [0.0, 1 - middle, 1.0]], atol=1e-300)
    assert np.isnan(naive_rows).any() and not np.all(np.isfinite(naive_log))
