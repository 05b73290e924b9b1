"""deeplearning.net's lstm.py (the IMDB sentiment LSTM), shortened: the model is built as in
`build_model` and `lstm_layer` (embedding lookup, the masked LSTM step scanned over time, mean
pooling over the unmasked steps, softmax classifier, negative log likelihood with weight
decay; the dropout layer in a test of its own), then the cost, the prediction, every parameter's gradient and
one adadelta update are checked against an independent numpy implementation (gradients
against central differences of the numpy forward)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

import tc
import tc.tensor as tensor
from tc.random import RandomStreams

N_WORDS, DIM, YDIM, MAXLEN, BATCH = 20, 8, 2, 5, 3
DECAY_C = 0.01


def _ortho_weight(rng: np.random.Generator, ndim: int) -> np.ndarray:
    u, _, _ = np.linalg.svd(rng.standard_normal((ndim, ndim)))
    return u


def _init_params(rng: np.random.Generator) -> OrderedDict[str, np.ndarray]:
    """As `init_params` and `param_init_lstm`, with larger values so every gradient matters."""
    params: OrderedDict[str, np.ndarray] = OrderedDict()
    params["Wemb"] = 0.5 * rng.random((N_WORDS, DIM))
    params["lstm_W"] = np.concatenate([_ortho_weight(rng, DIM) for _ in range(4)], axis=1)
    params["lstm_U"] = np.concatenate([_ortho_weight(rng, DIM) for _ in range(4)], axis=1)
    params["lstm_b"] = 0.1 * rng.standard_normal(4 * DIM)
    params["U"] = 0.5 * rng.standard_normal((DIM, YDIM))
    params["b"] = 0.1 * rng.standard_normal(YDIM)
    return params


def _prepare_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As `imdb.prepare_data`: sequences of lengths 5, 3, 2 padded with 0, and their mask."""
    lengths = [MAXLEN, 3, 2]
    x = np.zeros((MAXLEN, BATCH), dtype=np.int64)
    mask = np.zeros((MAXLEN, BATCH))
    for idx, n in enumerate(lengths):
        x[:n, idx] = rng.integers(1, N_WORDS, n)
        mask[:n, idx] = 1.0
    return x, mask, np.array([1, 0, 1], dtype=np.int64)


def _lstm_layer(tparams, state_below, mask, prefix="lstm"):
    nsteps = state_below.shape[0]
    n_samples = state_below.shape[1]

    def _slice(_x, n, dim):
        if _x.ndim == 3:
            return _x[:, :, n * dim : (n + 1) * dim]
        return _x[:, n * dim : (n + 1) * dim]

    def _step(m_, x_, h_, c_):
        preact = tensor.dot(h_, tparams[prefix + "_U"])
        preact += x_
        i = tensor.nnet.sigmoid(_slice(preact, 0, DIM))
        f = tensor.nnet.sigmoid(_slice(preact, 1, DIM))
        o = tensor.nnet.sigmoid(_slice(preact, 2, DIM))
        c = tensor.tanh(_slice(preact, 3, DIM))
        c = f * c_ + i * c
        c = m_[:, None] * c + (1.0 - m_)[:, None] * c_
        h = o * tensor.tanh(c)
        h = m_[:, None] * h + (1.0 - m_)[:, None] * h_
        return h, c

    state_below = tensor.dot(state_below, tparams[prefix + "_W"]) + tparams[prefix + "_b"]
    rval, updates = tc.scan(
        _step,
        sequences=[mask, state_below],
        outputs_info=[
            tensor.alloc(np.float64(0.0), n_samples, DIM),
            tensor.alloc(np.float64(0.0), n_samples, DIM),
        ],
        name=prefix + "__layers",
        n_steps=nsteps,
    )
    return rval[0]


def _build_model(tparams, use_dropout=False):
    trng = RandomStreams(123)
    use_noise = tc.shared(np.float64(0.0))
    x = tensor.matrix("x", dtype="int64")
    mask = tensor.matrix("mask", dtype="float64")
    y = tensor.vector("y", dtype="int64")
    n_timesteps, n_samples = x.shape[0], x.shape[1]
    emb = tparams["Wemb"][x.flatten()].reshape([n_timesteps, n_samples, DIM])
    proj = _lstm_layer(tparams, emb, mask)
    proj = (proj * mask[:, :, None]).sum(axis=0)
    proj = proj / mask.sum(axis=0)[:, None]
    if use_dropout:  # dropout_layer
        noise = trng.binomial(proj.shape, p=0.5, n=1, dtype=proj.dtype)
        proj = tensor.switch(use_noise, proj * noise, proj * 0.5)
    pred = tensor.nnet.softmax(tensor.dot(proj, tparams["U"]) + tparams["b"])
    f_pred_prob = tc.function([x, mask], pred, name="f_pred_prob")
    f_pred = tc.function([x, mask], pred.argmax(axis=1), name="f_pred")
    cost = -tensor.log(pred[tensor.arange(n_samples), y] + 1e-8).mean()
    decay_c = tc.shared(np.float64(DECAY_C), name="decay_c")
    cost += decay_c * (tparams["U"] ** 2).sum()
    return use_noise, x, mask, y, f_pred_prob, f_pred, cost


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _numpy_model(
    p: dict[str, np.ndarray], x: np.ndarray, mask: np.ndarray, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """The same steps in numpy: (class probabilities, the hidden states of every step)."""
    steps, n = x.shape
    below = p["Wemb"][x.reshape(-1)].reshape(steps, n, DIM) @ p["lstm_W"] + p["lstm_b"]
    h, c, hs = np.zeros((n, DIM)), np.zeros((n, DIM)), []
    for t in range(steps):
        pre = h @ p["lstm_U"] + below[t]
        gates = [pre[:, k * DIM : (k + 1) * DIM] for k in range(4)]
        c_new = _sigmoid(gates[1]) * c + _sigmoid(gates[0]) * np.tanh(gates[3])
        m = mask[t][:, None]
        c_new = m * c_new + (1 - m) * c
        h = m * (_sigmoid(gates[2]) * np.tanh(c_new)) + (1 - m) * h
        c = c_new
        hs.append(h)
    proj = (np.array(hs) * mask[:, :, None]).sum(0) / mask.sum(0)[:, None] * scale
    logits = proj @ p["U"] + p["b"]
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True), np.array(hs)


def _numpy_cost(p: dict[str, np.ndarray], x: np.ndarray, mask: np.ndarray, y: np.ndarray) -> float:
    pred, _ = _numpy_model(p, x, mask)
    return float(-np.log(pred[np.arange(len(y)), y] + 1e-8).mean() + DECAY_C * (p["U"] ** 2).sum())


def _numeric_grad(p: dict[str, np.ndarray], name: str, data: tuple, eps: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(p[name])
    for index in np.ndindex(grad.shape):
        moved = {k: v.copy() for k, v in p.items()}
        moved[name][index] += eps
        up = _numpy_cost(moved, *data)
        moved[name][index] -= 2 * eps
        grad[index] = (up - _numpy_cost(moved, *data)) / (2 * eps)
    return grad


def _adadelta(tparams, grads, x, mask, y, cost):
    """lstm.py's adadelta, unchanged but for the names."""
    zipped_grads = [tc.shared(p.get_value() * 0.0, name=f"{k}_grad") for k, p in tparams.items()]
    running_up2 = [tc.shared(p.get_value() * 0.0, name=f"{k}_rup2") for k, p in tparams.items()]
    running_grads2 = [tc.shared(p.get_value() * 0.0, name=f"{k}_rgrad2") for k, p in tparams.items()]
    zgup = [(zg, g) for zg, g in zip(zipped_grads, grads, strict=True)]
    rg2up = [(rg2, 0.95 * rg2 + 0.05 * (g**2)) for rg2, g in zip(running_grads2, grads, strict=True)]
    f_grad_shared = tc.function([x, mask, y], cost, updates=zgup + rg2up, name="adadelta_f_grad_shared")
    updir = [
        -tensor.sqrt(ru2 + 1e-6) / tensor.sqrt(rg2 + 1e-6) * zg
        for zg, ru2, rg2 in zip(zipped_grads, running_up2, running_grads2, strict=True)
    ]
    ru2up = [(ru2, 0.95 * ru2 + 0.05 * (ud**2)) for ru2, ud in zip(running_up2, updir, strict=True)]
    param_up = [(p, p + ud) for p, ud in zip(tparams.values(), updir, strict=True)]
    lr = tensor.scalar(name="lr")
    f_update = tc.function([lr], [], updates=ru2up + param_up, on_unused_input="ignore", name="f_update")
    return f_grad_shared, f_update


def test_lstm_cost_prediction_gradients_and_adadelta_step() -> None:
    rng = np.random.default_rng(2024)
    params = _init_params(rng)
    tparams = OrderedDict((k, tc.shared(v, name=k)) for k, v in params.items())
    use_noise, x, mask, y, f_pred_prob, f_pred, cost = _build_model(tparams)
    grads = tensor.grad(cost, wrt=list(tparams.values()))
    f_cost_grads = tc.function([x, mask, y], [cost, *grads], name="f_grad")
    xv, mv, yv = _prepare_data(rng)

    expected_pred, _ = _numpy_model(params, xv, mv)
    np.testing.assert_allclose(f_pred_prob(xv, mv), expected_pred, rtol=1e-9)
    np.testing.assert_array_equal(f_pred(xv, mv), expected_pred.argmax(axis=1))
    out = f_cost_grads(xv, mv, yv)
    np.testing.assert_allclose(out[0], _numpy_cost(params, xv, mv, yv), rtol=1e-9)
    for name, got in zip(params, out[1:], strict=True):
        expected = _numeric_grad(params, name, (xv, mv, yv))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9, err_msg=name)
        assert np.abs(got).max() > 1e-4, name

    f_grad_shared, f_update = _adadelta(tparams, grads, x, mask, y, cost)
    np.testing.assert_allclose(f_grad_shared(xv, mv, yv), out[0], rtol=1e-12)
    f_update(0.0001)
    new = {}
    for (name, value), g in zip(params.items(), out[1:], strict=True):
        updir = -np.sqrt(1e-6) / np.sqrt(0.05 * g**2 + 1e-6) * g
        new[name] = value + updir
        np.testing.assert_allclose(tparams[name].get_value(), new[name], rtol=1e-9, atol=1e-15, err_msg=name)
    np.testing.assert_allclose(f_grad_shared(xv, mv, yv), _numpy_cost(new, xv, mv, yv), rtol=1e-9)
    assert use_noise.get_value() == 0.0


def test_lstm_mask_freezes_states_after_the_end_of_a_sequence() -> None:
    """Past a sequence's length the scan carries h and c unchanged (`m_` = 0)."""
    rng = np.random.default_rng(7)
    params = _init_params(rng)
    tparams = OrderedDict((k, tc.shared(v, name=k)) for k, v in params.items())
    x = tensor.matrix("x", dtype="int64")
    mask = tensor.matrix("mask")
    emb = tparams["Wemb"][x.flatten()].reshape([x.shape[0], x.shape[1], DIM])
    f = tc.function([x, mask], _lstm_layer(tparams, emb, mask))
    xv, mv, _ = _prepare_data(rng)
    hs = f(xv, mv)
    np.testing.assert_allclose(hs, _numpy_model(params, xv, mv)[1], rtol=1e-9, atol=1e-15)
    np.testing.assert_array_equal(hs[3:, 1], np.repeat(hs[2:3, 1], 2, axis=0))
    np.testing.assert_array_equal(hs[2:, 2], np.repeat(hs[1:2, 2], 3, axis=0))
    xv2 = xv.copy()
    xv2[3:, 1] = 19  # changing padding changes nothing
    np.testing.assert_array_equal(f(xv2, mv), hs)


def _dropout_model(use_noise_value: float):
    rng = np.random.default_rng(3)
    params = _init_params(rng)
    tparams = OrderedDict((k, tc.shared(v, name=k)) for k, v in params.items())
    use_noise, x, mask, y, f_pred_prob, _, cost = _build_model(tparams, use_dropout=True)
    use_noise.set_value(np.float64(use_noise_value))
    return params, tparams, (x, mask, y, f_pred_prob, cost), _prepare_data(rng)


def test_lstm_dropout_layer_forward() -> None:
    """With use_noise = 0 the dropout layer halves proj (the test-time rule of lstm.py)."""
    params, _, (x, mask, y, f_pred_prob, cost), (xv, mv, yv) = _dropout_model(0.0)
    np.testing.assert_allclose(f_pred_prob(xv, mv), _numpy_model(params, xv, mv, 0.5)[0], rtol=1e-9)


def test_lstm_gradient_through_dropout_layer() -> None:
    params, tparams, (x, mask, y, _, cost), (xv, mv, yv) = _dropout_model(0.0)
    grads = tensor.grad(cost, wrt=list(tparams.values()))
    got = tc.function([x, mask, y], grads[4])(xv, mv, yv)
    assert got.shape == (DIM, YDIM)


def test_minimal_gradient_through_dropout_mask_sized_by_shape() -> None:
    W = tc.shared(np.ones((3, 3)))
    x = tensor.matrix("x")
    h = tensor.dot(x, W)
    dropped = h * RandomStreams(1).binomial(h.shape, p=0.5, n=1, dtype=h.dtype)
    g = tc.function([x], tensor.grad(dropped.sum(), W))(np.ones((2, 3)))
    assert g.shape == (3, 3)
