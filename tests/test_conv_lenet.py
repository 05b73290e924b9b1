"""A LeNet-style model (two conv + max-pool + tanh layers, a tanh layer, softmax; the shape of
Theano's convolutional_mlp.py, small) trained for three minibatches by tc, against the same
steps computed in numpy here, forward and backward by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.tensor.signal import pool

LR = 0.1


def _conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """'valid' convolution (filters flipped), by taps."""
    wf = w[:, :, ::-1, ::-1]
    kh, kw = w.shape[2:]
    rows, cols = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    y = np.zeros((x.shape[0], w.shape[0], rows, cols))
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("nchw,oc->nohw", x[:, :, i : i + rows, j : j + cols], wf[:, :, i, j])
    return y


def _conv_backward(x: np.ndarray, w: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    wf = w[:, :, ::-1, ::-1]
    rows, cols = g.shape[2:]
    gx, gwf = np.zeros_like(x), np.zeros_like(w)
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            gx[:, :, i : i + rows, j : j + cols] += np.einsum("nohw,oc->nchw", g, wf[:, :, i, j])
            gwf[:, :, i, j] = np.einsum("nohw,nchw->oc", g, x[:, :, i : i + rows, j : j + cols])
    return gx, gwf[:, :, ::-1, ::-1]


def _pool(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def _pool_backward(x: np.ndarray, y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Every element equal to its window's maximum gets the window's gradient (Theano's)."""
    up = np.repeat(np.repeat(y, 2, axis=2), 2, axis=3)
    return np.where(x == up, np.repeat(np.repeat(g, 2, axis=2), 2, axis=3), 0.0)


def _numpy_step(params: list[np.ndarray], x: np.ndarray, labels: np.ndarray) -> float:
    """One SGD step on `params` (in place); returns the cost before the step."""
    w0, b0, w1, b1, w2, b2, w3, b3 = params
    c0 = _conv(x, w0)
    p0 = _pool(c0)
    a0 = np.tanh(p0 + b0[None, :, None, None])
    c1 = _conv(a0, w1)
    p1 = _pool(c1)
    a1 = np.tanh(p1 + b1[None, :, None, None])
    flat = a1.reshape(len(x), -1)
    h = np.tanh(flat @ w2 + b2)
    z = h @ w3 + b3
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    n = len(x)
    cost = -np.mean(np.log(p[np.arange(n), labels]))
    gz = p.copy()
    gz[np.arange(n), labels] -= 1
    gz /= n
    gw3, gb3 = h.T @ gz, gz.sum(0)
    gh = gz @ w3.T * (1 - h**2)
    gw2, gb2 = flat.T @ gh, gh.sum(0)
    ga1 = (gh @ w2.T).reshape(a1.shape) * (1 - a1**2)
    gb1 = ga1.sum(axis=(0, 2, 3))
    ga0, gw1 = _conv_backward(a0, w1, _pool_backward(c1, p1, ga1))
    ga0 = ga0 * (1 - a0**2)
    gb0 = ga0.sum(axis=(0, 2, 3))
    _, gw0 = _conv_backward(x, w0, _pool_backward(c0, p0, ga0))
    for param, grad in zip(params, [gw0, gb0, gw1, gb1, gw2, gb2, gw3, gb3], strict=True):
        param -= LR * grad
    return float(cost)


def _initial(rng: np.random.Generator) -> list[np.ndarray]:
    shapes = [(3, 1, 3, 3), (3,), (4, 3, 2, 2), (4,), (16, 8), (8,), (8, 3), (3,)]
    return [rng.uniform(-0.5, 0.5, s) for s in shapes]


def _tc_step(initial: list[np.ndarray]) -> tuple[Any, list[Any]]:
    params = [tc.shared(v.copy(), name=f"p{k}") for k, v in enumerate(initial)]
    w0, b0, w1, b1, w2, b2, w3, b3 = params
    x, y = T.dtensor4("x"), T.ivector("y")
    a0 = T.tanh(
        pool.pool_2d(T.nnet.conv2d(x, w0), (2, 2), ignore_border=True) + b0.dimshuffle("x", 0, "x", "x")
    )
    a1 = T.tanh(
        pool.pool_2d(T.nnet.conv2d(a0, w1), (2, 2), ignore_border=True) + b1.dimshuffle("x", 0, "x", "x")
    )
    h = T.tanh(T.dot(a1.flatten(2), w2) + b2)
    p = T.nnet.softmax(T.dot(h, w3) + b3)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    grads = T.grad(cost, params)
    updates = [(param, param - LR * g) for param, g in zip(params, grads, strict=True)]
    return tc.function([x, y], cost, updates=updates), params


@pytest.mark.parametrize("seed", [0, 1])
def test_three_minibatches_match_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    initial = _initial(rng)
    step, shared = _tc_step(initial)
    params = [v.copy() for v in initial]
    for _ in range(3):
        x = rng.standard_normal((6, 1, 12, 12))
        labels = rng.integers(0, 3, 6).astype(np.int32)
        want = _numpy_step(params, x, labels)
        np.testing.assert_allclose(float(step(x, labels)), want, rtol=1e-12)
        for got, expected in zip(shared, params, strict=True):
            np.testing.assert_allclose(got.get_value(), expected, rtol=1e-10, atol=1e-12)
