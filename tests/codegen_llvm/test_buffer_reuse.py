"""Temporaries that share a buffer (plan-buffers' `buffer = [n]`): the values are right at every
size, including where a view keeps a temporary alive, a result is a view of one, and a size comes
from an argument's value."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tc
import tc.tensor as T


def _buffers(planned: str) -> list[int]:
    """Every buffer number in the planned IR, once per temporary."""
    numbers: list[int] = []
    for group in re.findall(r"buffer = \[([^\]]*)\]", planned):
        numbers += [int(n) for n in group.split(",") if int(n) >= 0]
    return numbers


def test_a_chain_of_products_reuses_buffers_at_every_size() -> None:
    x, w, v = T.matrix("x"), T.matrix("w"), T.matrix("v")
    a = T.tanh(T.dot(x, w))
    t = T.tanh(T.dot(a, v))
    g = T.dot(a.T, t)  # the view keeps a's buffer alive past t's product
    p = T.dot(t, v)
    f = tc.function([x, w, v], [p.sum(), g])
    numbers = _buffers(f.dump("tir-opt"))
    assert len(set(numbers)) < len(numbers)  # some temporaries share
    rng = np.random.default_rng(0)
    # Sizes change from call to call, so the shared buffers are sized at run time.
    for n, k, m in [(7, 5, 6), (300, 40, 3), (1, 1, 1), (0, 4, 2), (64, 2, 130)]:
        X, W, V = rng.standard_normal((n, k)), rng.standard_normal((k, m)), rng.standard_normal((m, m))
        A = np.tanh(X @ W)
        Tt = np.tanh(A @ V)
        cost, grad = f(X, W, V)
        np.testing.assert_allclose(cost, (Tt @ V).sum(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(grad, A.T @ Tt, rtol=1e-10, atol=1e-10)


def test_a_returned_view_of_a_temporary_is_not_overwritten() -> None:
    x, w = T.matrix("x"), T.matrix("w")
    a = T.tanh(T.dot(x, w))
    later = T.exp(T.dot(a, w.T))  # temporaries made after a, while its view waits to be copied out
    f = tc.function([x, w], [a.T, T.dot(later, w).sum()])
    rng = np.random.default_rng(1)
    for n, k in [(5, 5), (40, 9), (3, 200)]:
        X, W = rng.standard_normal((n, k)) / k, rng.standard_normal((k, k)) / k
        A = np.tanh(X @ W)
        at, s = f(X, W)
        np.testing.assert_allclose(at, A.T, rtol=1e-12)
        np.testing.assert_allclose(s, (np.exp(A @ W.T) @ W).sum(), rtol=1e-10)


def test_buffers_sized_from_an_argument_value_and_a_shared_variable() -> None:
    data = tc.shared(np.arange(60.0).reshape(20, 3), name="data")
    i, batch = T.lscalar("i"), T.lscalar("batch")
    rows = data[i * batch : (i + 1) * batch]
    h = T.exp(rows / 60.0)
    s = T.dot(h, h.T)  # a temporary whose size is a term over i and batch
    f = tc.function([i, batch], T.dot(T.sqrt(s + 1.0), h).sum(axis=0))
    assert _buffers(f.dump("tir-opt"))
    values = np.arange(60.0).reshape(20, 3)
    for index, size in [(0, 4), (1, 7), (3, 5), (2, 9), (9, 3)]:
        H = np.exp(values[index * size : (index + 1) * size] / 60.0)
        np.testing.assert_allclose(f(index, size), (np.sqrt(H @ H.T + 1.0) @ H).sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("steps", [0, 1, 5])
def test_temporaries_inside_a_loop_body_share_buffers(steps: int) -> None:
    w = T.matrix("w")
    h0 = T.vector("h0")

    def step(h, w):
        return T.tanh(T.dot(T.exp(-T.dot(h, w)), w))

    hs, _ = tc.scan(step, outputs_info=h0, non_sequences=w, n_steps=steps)
    f = tc.function([h0, w], hs)
    rng = np.random.default_rng(2)
    W, H0 = rng.standard_normal((6, 6)) / 6, rng.standard_normal(6)
    expected, h = [], H0
    for _ in range(steps):
        h = np.tanh(np.exp(-(h @ W)) @ W)
        expected.append(h)
    np.testing.assert_allclose(f(H0, W), np.array(expected).reshape(steps, 6), rtol=1e-12)
