"""deeplearning.net's rnnrbm.py (the RNN-RBM of Boulanger-Lewandowski et al.), shortened: the
model as written in `build_rbm` and `build_rnnrbm` (an RNN over time giving each step's RBM
biases bv_t and bh_t; training with a k-step Gibbs chain scanned over the whole sequence and
`T.grad(cost, params, consider_constant=[v_sample])`; generation with a Gibbs chain scanned
inside each step of the outer scan, the step returning `([v_t, u_t], updates)`), with small
sizes. The deterministic parts (the recurrence, the gradient given the chain's sample, a
generation whose samples are saturated) are compared with numpy; training is checked to
raise the monitoring pseudo-likelihood."""

from __future__ import annotations

from typing import Any

import numpy as np

import tc
import tc.tensor as T
from tc.random import RandomStreams

N_VISIBLE, N_HIDDEN, N_RECURRENT, STEPS, K_TRAIN, K_GEN, N_GEN = 5, 4, 3, 6, 3, 3, 5
floatX = "float64"
rng = RandomStreams(seed=0xBEEF)


def build_rbm(v: Any, W: Any, bv: Any, bh: Any, k: int) -> tuple[Any, Any, Any, Any]:
    def gibbs_step(v):
        mean_h = T.nnet.sigmoid(T.dot(v, W) + bh)
        h = rng.binomial(size=mean_h.shape, n=1, p=mean_h, dtype=floatX)
        mean_v = T.nnet.sigmoid(T.dot(h, W.T) + bv)
        v = rng.binomial(size=mean_v.shape, n=1, p=mean_v, dtype=floatX)
        return mean_v, v

    chain, updates = tc.scan(lambda v: gibbs_step(v)[1], outputs_info=[v], n_steps=k)
    v_sample = chain[-1]
    mean_v = gibbs_step(v_sample)[0]
    monitor = T.xlogx.xlogy0(v, mean_v) + T.xlogx.xlogy0(1 - v, 1 - mean_v)
    monitor = monitor.sum() / v.shape[0]

    def free_energy(v):
        return -(v * bv).sum() - T.log(1 + T.exp(T.dot(v, W) + bh)).sum()

    cost = (free_energy(v) - free_energy(v_sample)) / v.shape[0]
    return v_sample, cost, monitor, updates


def build_rnnrbm(values: dict[str, np.ndarray]) -> tuple[Any, ...]:
    """`build_rnnrbm` with the initial parameter values given (and fewer Gibbs steps)."""
    names = ["W", "bv", "bh", "Wuh", "Wuv", "Wvu", "Wuu", "bu"]
    W, bv, bh, Wuh, Wuv, Wvu, Wuu, bu = params = tuple(tc.shared(values[n], name=n) for n in names)
    v = T.matrix()
    u0 = T.zeros((N_RECURRENT,))

    def recurrence(v_t, u_tm1):
        bv_t = bv + T.dot(u_tm1, Wuv)
        bh_t = bh + T.dot(u_tm1, Wuh)
        generate = v_t is None
        if generate:
            v_t, _, _, updates = build_rbm(T.zeros((N_VISIBLE,)), W, bv_t, bh_t, k=K_GEN)
        u_t = T.tanh(bu + T.dot(v_t, Wvu) + T.dot(u_tm1, Wuu))
        return ([v_t, u_t], updates) if generate else [u_t, bv_t, bh_t]

    (u_t, bv_t, bh_t), updates_train = tc.scan(
        lambda v_t, u_tm1, *_: recurrence(v_t, u_tm1),
        sequences=v,
        outputs_info=[u0, None, None],
        non_sequences=params,
    )
    v_sample, cost, monitor, updates_rbm = build_rbm(v, W, bv_t[:], bh_t[:], k=K_TRAIN)
    updates_train.update(updates_rbm)
    (v_t, u_t_gen), updates_generate = tc.scan(
        lambda u_tm1, *_: recurrence(None, u_tm1),
        outputs_info=[None, u0],
        non_sequences=params,
        n_steps=N_GEN,
    )
    return (
        v,
        v_sample,
        cost,
        monitor,
        params,
        updates_train,
        v_t,
        updates_generate,
        (u_t, bv_t, bh_t, u_t_gen),
    )


def _values(np_rng: np.random.Generator, scale: float) -> dict[str, np.ndarray]:
    def normal(rows: int, cols: int, s: float) -> np.ndarray:
        return np_rng.normal(scale=s, size=(rows, cols))

    return {
        "W": normal(N_VISIBLE, N_HIDDEN, scale),
        "bv": np_rng.normal(0, 0.2, N_VISIBLE),
        "bh": np_rng.normal(0, 0.2, N_HIDDEN),
        "Wuh": normal(N_RECURRENT, N_HIDDEN, 0.5),
        "Wuv": normal(N_RECURRENT, N_VISIBLE, 0.5),
        "Wvu": normal(N_VISIBLE, N_RECURRENT, 0.5),
        "Wuu": normal(N_RECURRENT, N_RECURRENT, 0.5),
        "bu": np_rng.normal(0, 0.2, N_RECURRENT),
    }


def _numpy_rnn(p: dict[str, np.ndarray], v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u, us, bvs, bhs = np.zeros(N_RECURRENT), [], [], []
    for v_t in v:
        bvs.append(p["bv"] + u @ p["Wuv"])
        bhs.append(p["bh"] + u @ p["Wuh"])
        u = np.tanh(p["bu"] + v_t @ p["Wvu"] + u @ p["Wuu"])
        us.append(u)
    return np.array(us), np.array(bvs), np.array(bhs)


def _numpy_cost(p: dict[str, np.ndarray], v: np.ndarray, v_sample: np.ndarray) -> float:
    _, bv_t, bh_t = _numpy_rnn(p, v)

    def free_energy(x: np.ndarray) -> float:
        return float(-(x * bv_t).sum() - np.logaddexp(0, x @ p["W"] + bh_t).sum())

    return (free_energy(v) - free_energy(v_sample)) / len(v)


def _numeric_grad(p: dict[str, np.ndarray], name: str, v: np.ndarray, v_sample: np.ndarray) -> np.ndarray:
    grad, eps = np.zeros_like(p[name]), 1e-6
    for index in np.ndindex(grad.shape):
        old = p[name][index]
        p[name][index] = old + eps
        up = _numpy_cost(p, v, v_sample)
        p[name][index] = old - eps
        grad[index] = (up - _numpy_cost(p, v, v_sample)) / (2 * eps)
        p[name][index] = old
    return grad


def _sequence(np_rng: np.random.Generator) -> np.ndarray:
    return np_rng.integers(0, 2, (STEPS, N_VISIBLE)).astype(np.float64)


def test_recurrence_cost_gradients_and_sgd_update_match_numpy() -> None:
    np_rng = np.random.default_rng(21)
    values = _values(np_rng, 0.5)
    v, v_sample, cost, monitor, params, updates_train, _, _, (u_t, bv_t, bh_t, _) = build_rnnrbm(values)
    gradient = T.grad(cost, params, consider_constant=[v_sample])
    lr = 0.01
    updates_train.update((p, p - lr * g) for p, g in zip(params, gradient, strict=True))
    f = tc.function([v], [monitor, v_sample, cost, u_t, bv_t, bh_t, *gradient], updates=updates_train)
    seq = _sequence(np_rng)
    out = f(seq)
    for got, expected in zip(out[3:6], _numpy_rnn(values, seq), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)
    assert out[1].shape == seq.shape and np.isin(out[1], [0.0, 1.0]).all()
    np.testing.assert_allclose(out[2], _numpy_cost(values, seq, out[1]), rtol=1e-9)
    assert np.isfinite(out[0]) and out[0] <= 0.0
    for name, shared, grad in zip(values, params, out[6:], strict=True):
        np.testing.assert_allclose(grad, _numeric_grad(values, name, seq, out[1]), rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(shared.get_value(), values[name] - lr * grad, rtol=1e-12, atol=1e-15)


def test_training_raises_the_monitored_pseudo_likelihood_and_generation_runs() -> None:
    np_rng = np.random.default_rng(22)
    v, v_sample, cost, monitor, params, updates_train, v_t, updates_generate, _ = build_rnnrbm(
        _values(np_rng, 0.01)
    )
    gradient = T.grad(cost, params, consider_constant=[v_sample])
    updates_train.update((p, p - 0.1 * g) for p, g in zip(params, gradient, strict=True))
    train_function = tc.function([v], monitor, updates=updates_train)
    generate_function = tc.function([], v_t, updates=updates_generate)
    seq = np.array([[1, 0, 1, 0, 0], [0, 1, 0, 1, 0], [0, 0, 1, 0, 1]] * 2, dtype=np.float64)
    monitors = [float(train_function(seq)) for _ in range(60)]
    assert np.mean(monitors[-10:]) > np.mean(monitors[:10]) + 0.5
    first, second = generate_function(), generate_function()
    assert first.shape == (N_GEN, N_VISIBLE) and np.isin(first, [0.0, 1.0]).all()
    assert not np.array_equal(first, second)


def test_generation_with_saturated_rbms_matches_numpy() -> None:
    """With weights of +-100 and biases of 100 m + 50 every probability of the inner chains is
    1.0 or below 2**-53, so the generated sequence is fixed and numpy can compute it."""
    np_rng = np.random.default_rng(23)
    p = _values(np_rng, 1.0)
    p["W"] = 100.0 * np_rng.choice([-1.0, 1.0], (N_VISIBLE, N_HIDDEN))
    p["bv"] = 100.0 * np_rng.integers(-1, 2, N_VISIBLE) + 50.0
    p["bh"] = 100.0 * np_rng.integers(-1, 2, N_HIDDEN) + 50.0
    _, _, _, _, _, _, v_t, updates_generate, (_, _, _, u_t) = build_rnnrbm(p)
    generate_function = tc.function([], [v_t, u_t], updates=updates_generate)
    u, expected, us = np.zeros(N_RECURRENT), [], []
    for _ in range(N_GEN):
        bv_t, bh_t = p["bv"] + u @ p["Wuv"], p["bh"] + u @ p["Wuh"]
        v = np.zeros(N_VISIBLE)
        for _ in range(K_GEN):
            h = (v @ p["W"] + bh_t > 0).astype(float)
            v = (h @ p["W"].T + bv_t > 0).astype(float)
        expected.append(v)
        u = np.tanh(p["bu"] + v @ p["Wvu"] + u @ p["Wuu"])
        us.append(u)
    for _ in range(2):
        got_v, got_u = generate_function()
        np.testing.assert_array_equal(got_v, expected)
        np.testing.assert_allclose(got_u, us, rtol=1e-9, atol=1e-15)
