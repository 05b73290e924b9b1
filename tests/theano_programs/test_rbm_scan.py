"""deeplearning.net's rbm.py, shortened: the RBM class as written there (propup/propdown,
binomial sampling with `theano_rng.binomial(size=..., n=1, p=..., dtype=floatX)`, the Gibbs
chain of CD-k and persistent CD-k as a scan with `outputs_info=[None] * 5 + [chain_start]`,
`T.grad(cost, params, consider_constant=[chain_end])`, the scan's updates dict extended with
the parameter updates, the persistent chain and the pseudo-likelihood bit index). Random
numbers cannot come from numpy's generator, so: with saturated weights every sample is
deterministic and the whole training step is compared with numpy; with small weights the
chain's samples are returned too and every number derived from them is recomputed in numpy."""

from __future__ import annotations

from typing import Any

import numpy as np

import tc
import tc.tensor as T
from tc.tensor.shared_randomstreams import RandomStreams

N_VISIBLE, N_HIDDEN, BATCH = 6, 4, 5
floatX = "float64"


class RBM:
    def __init__(self, input: Any, W: np.ndarray, hbias: np.ndarray, vbias: np.ndarray, seed: int) -> None:
        self.input, self.n_visible = input, W.shape[0]
        self.W = tc.shared(W, name="W", borrow=True)
        self.hbias = tc.shared(hbias, name="hbias", borrow=True)
        self.vbias = tc.shared(vbias, name="vbias", borrow=True)
        self.theano_rng = RandomStreams(seed)
        self.params = [self.W, self.hbias, self.vbias]

    def free_energy(self, v_sample: Any) -> Any:
        wx_b = T.dot(v_sample, self.W) + self.hbias
        vbias_term = T.dot(v_sample, self.vbias)
        hidden_term = T.sum(T.log(1 + T.exp(wx_b)), axis=1)
        return -hidden_term - vbias_term

    def propup(self, vis: Any) -> list[Any]:
        pre_sigmoid_activation = T.dot(vis, self.W) + self.hbias
        return [pre_sigmoid_activation, T.nnet.sigmoid(pre_sigmoid_activation)]

    def sample_h_given_v(self, v0_sample: Any) -> list[Any]:
        pre_sigmoid_h1, h1_mean = self.propup(v0_sample)
        h1_sample = self.theano_rng.binomial(size=h1_mean.shape, n=1, p=h1_mean, dtype=floatX)
        return [pre_sigmoid_h1, h1_mean, h1_sample]

    def propdown(self, hid: Any) -> list[Any]:
        pre_sigmoid_activation = T.dot(hid, self.W.T) + self.vbias
        return [pre_sigmoid_activation, T.nnet.sigmoid(pre_sigmoid_activation)]

    def sample_v_given_h(self, h0_sample: Any) -> list[Any]:
        pre_sigmoid_v1, v1_mean = self.propdown(h0_sample)
        v1_sample = self.theano_rng.binomial(size=v1_mean.shape, n=1, p=v1_mean, dtype=floatX)
        return [pre_sigmoid_v1, v1_mean, v1_sample]

    def gibbs_hvh(self, h0_sample: Any) -> list[Any]:
        pre_sigmoid_v1, v1_mean, v1_sample = self.sample_v_given_h(h0_sample)
        pre_sigmoid_h1, h1_mean, h1_sample = self.sample_h_given_v(v1_sample)
        return [pre_sigmoid_v1, v1_mean, v1_sample, pre_sigmoid_h1, h1_mean, h1_sample]

    def gibbs_vhv(self, v0_sample: Any) -> list[Any]:
        pre_sigmoid_h1, h1_mean, h1_sample = self.sample_h_given_v(v0_sample)
        pre_sigmoid_v1, v1_mean, v1_sample = self.sample_v_given_h(h1_sample)
        return [pre_sigmoid_h1, h1_mean, h1_sample, pre_sigmoid_v1, v1_mean, v1_sample]

    def get_cost_updates(self, lr: float = 0.1, persistent: Any = None, k: int = 1) -> tuple[Any, Any]:
        pre_sigmoid_ph, ph_mean, ph_sample = self.sample_h_given_v(self.input)
        chain_start = ph_sample if persistent is None else persistent
        chain, updates = tc.scan(
            self.gibbs_hvh,
            outputs_info=[None, None, None, None, None, chain_start],
            n_steps=k,
            name="gibbs_hvh",
        )
        pre_sigmoid_nvs, nv_means, nv_samples, pre_sigmoid_nhs, nh_means, nh_samples = chain
        self.samples = [ph_sample, nv_samples, nh_samples, pre_sigmoid_nvs, pre_sigmoid_nhs, nv_means]
        chain_end = nv_samples[-1]
        cost = T.mean(self.free_energy(self.input)) - T.mean(self.free_energy(chain_end))
        gparams = T.grad(cost, self.params, consider_constant=[chain_end])
        for gparam, param in zip(gparams, self.params, strict=True):
            updates[param] = param - gparam * T.cast(lr, dtype=floatX)
        if persistent:
            updates[persistent] = nh_samples[-1]
            monitoring_cost = self.get_pseudo_likelihood_cost(updates)
        else:
            monitoring_cost = self.get_reconstruction_cost(updates, pre_sigmoid_nvs[-1])
        return monitoring_cost, updates

    def get_pseudo_likelihood_cost(self, updates: Any) -> Any:
        self.bit_i_idx = bit_i_idx = tc.shared(value=0, name="bit_i_idx")
        xi = T.round(self.input)
        fe_xi = self.free_energy(xi)
        xi_flip = T.set_subtensor(xi[:, bit_i_idx], 1 - xi[:, bit_i_idx])
        fe_xi_flip = self.free_energy(xi_flip)
        cost = T.mean(self.n_visible * T.log(T.nnet.sigmoid(fe_xi_flip - fe_xi)))
        updates[bit_i_idx] = (bit_i_idx + 1) % self.n_visible
        return cost

    def get_reconstruction_cost(self, updates: Any, pre_sigmoid_nv: Any) -> Any:
        return T.mean(
            T.sum(
                self.input * T.log(T.nnet.sigmoid(pre_sigmoid_nv))
                + (1 - self.input) * T.log(1 - T.nnet.sigmoid(pre_sigmoid_nv)),
                axis=1,
            )
        )


# -- numpy ----------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _free_energy(v: np.ndarray, W: np.ndarray, hb: np.ndarray, vb: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0, v @ W + hb).sum(axis=1) - v @ vb


def _cd_gradients(x: np.ndarray, end: np.ndarray, W: np.ndarray, hb: np.ndarray) -> list[np.ndarray]:
    """d/d(W, hbias, vbias) of mean F(x) - mean F(end), `end` held constant."""
    sx, se = _sigmoid(x @ W + hb), _sigmoid(end @ W + hb)
    n = len(x)
    return [(end.T @ se - x.T @ sx) / n, (se - sx).sum(0) / n, (end - x).sum(0) / n]


def _saturated_params(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights of +-80 and biases of 80 m + 40: every pre-activation of binary units is 40 or
    more away from 0, so every probability is 1.0 or below 2**-53 and every sample is fixed."""
    W = 80.0 * rng.choice([-1.0, 1.0], (N_VISIBLE, N_HIDDEN))
    hb = 80.0 * rng.integers(-1, 2, N_HIDDEN) + 40.0
    vb = 80.0 * rng.integers(-1, 2, N_VISIBLE) + 40.0
    return W, hb, vb


def _binary_data(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 2, (BATCH, N_VISIBLE)).astype(np.float64)


def _recon_cost(x: np.ndarray, pre: np.ndarray) -> float:
    return float(np.mean(np.sum(-x * np.logaddexp(0, -pre) - (1 - x) * np.logaddexp(0, pre), axis=1)))


def _pl_cost(x: np.ndarray, bit: int, W: np.ndarray, hb: np.ndarray, vb: np.ndarray) -> float:
    xi = np.round(x)
    flip = xi.copy()
    flip[:, bit] = 1 - flip[:, bit]
    diff = _free_energy(flip, W, hb, vb) - _free_energy(xi, W, hb, vb)
    return float(np.mean(N_VISIBLE * -np.logaddexp(0, -diff)))


def _check_chain(
    out: list[np.ndarray], start: np.ndarray, W: np.ndarray, hb: np.ndarray, vb: np.ndarray
) -> None:
    """The pre-activations and means the chain reports follow from its own samples."""
    ph, nv, nh, pre_nv, pre_nh, nv_means = out
    for samples in (ph, nv, nh):
        assert np.isin(samples, [0.0, 1.0]).all()
    previous_h = np.concatenate([start[None], nh[:-1]])
    np.testing.assert_allclose(pre_nv, previous_h @ W.T + vb, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(pre_nh, nv @ W + hb, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(nv_means, _sigmoid(pre_nv), rtol=1e-12)


def _params(rbm: RBM) -> list[np.ndarray]:
    return [p.get_value() for p in rbm.params]


def test_cd_k_with_saturated_weights_matches_numpy_exactly() -> None:
    rng = np.random.default_rng(10)
    W, hb, vb = _saturated_params(rng)
    x = T.matrix("x")
    rbm = RBM(x, W, hb, vb, seed=5)
    cost, updates = rbm.get_cost_updates(lr=0.1, k=3)
    train = tc.function([x], [cost, *rbm.samples], updates=updates)
    data = _binary_data(rng)
    for _ in range(2):
        W, hb, vb = _params(rbm)
        h = (data @ W + hb > 0).astype(float)
        out = train(data)
        np.testing.assert_array_equal(out[1], h)
        pre_vs = []
        for t in range(3):
            pre_vs.append(h @ W.T + vb)
            v = (pre_vs[-1] > 0).astype(float)
            h = (v @ W + hb > 0).astype(float)
            np.testing.assert_array_equal(out[2][t], v)
            np.testing.assert_array_equal(out[3][t], h)
        np.testing.assert_allclose(out[4], pre_vs, rtol=1e-12)
        np.testing.assert_allclose(out[0], _recon_cost(data, pre_vs[-1]), rtol=1e-9)
        expected = [p - 0.1 * g for p, g in zip((W, hb, vb), _cd_gradients(data, v, W, hb), strict=True)]
        for got, want in zip(_params(rbm), expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert not np.array_equal(W, rbm.W.get_value())


def test_cd_k_random_chain_and_gradient_from_its_samples() -> None:
    rng = np.random.default_rng(11)
    W0, hb0, vb0 = 0.8 * rng.standard_normal((N_VISIBLE, N_HIDDEN)), rng.normal(0, 0.3, N_HIDDEN), np.zeros(6)
    x = T.matrix("x")
    rbm = RBM(x, W0, hb0, vb0, seed=6)
    cost, updates = rbm.get_cost_updates(lr=0.1, k=3)
    train = tc.function([x], [cost, *rbm.samples], updates=updates)
    # The scan's two inner streams and the three parameters; the positive phase's stream, drawn
    # outside the scan, advances by its default update.
    streams = {state for state, _ in rbm.theano_rng.state_updates}
    assert len(updates) == 5 and len(streams & set(updates)) == 2
    data = _binary_data(rng)
    outs = []
    for _ in range(2):
        for shared, value in zip(rbm.params, (W0, hb0, vb0), strict=True):
            shared.set_value(value)
        out = train(data)
        _check_chain(out[1:], out[1], W0, hb0, vb0)
        np.testing.assert_allclose(out[0], _recon_cost(data, out[4][-1]), rtol=1e-9)
        grads = _cd_gradients(data, out[2][-1], W0, hb0)
        for got, p, g in zip(_params(rbm), (W0, hb0, vb0), grads, strict=True):
            np.testing.assert_allclose(got, p - 0.1 * g, rtol=1e-9, atol=1e-14)
        outs.append(out)
    # Every stream advanced: the same parameters and data give another chain.
    assert all(not np.array_equal(a, b) for a, b in zip(outs[0][1:4], outs[1][1:4], strict=True))


def test_cd_samples_follow_their_probabilities() -> None:
    rng = np.random.default_rng(12)
    W = 0.8 * rng.standard_normal((N_VISIBLE, N_HIDDEN))
    x = T.matrix("x")
    rbm = RBM(x, W, rng.normal(0, 0.5, N_HIDDEN), rng.normal(0, 0.5, N_VISIBLE), seed=7)
    cost, updates = rbm.get_cost_updates(lr=0.0, k=4)
    train = tc.function([x], rbm.samples, updates=updates)
    ph, nv, nh, pre_nv, pre_nh, nv_means = train(rng.integers(0, 2, (300, N_VISIBLE)).astype(float))
    for samples, means in ((nv, nv_means), (nh, _sigmoid(pre_nh))):
        spread = np.sqrt((means * (1 - means)).sum())
        assert abs((samples - means).sum()) < 5 * spread


def test_persistent_cd_with_givens_chain_and_pseudo_likelihood() -> None:
    rng = np.random.default_rng(13)
    W0 = 0.8 * rng.standard_normal((N_VISIBLE, N_HIDDEN))
    index, x = T.lscalar(), T.matrix("x")
    train_set_x = tc.shared(rng.integers(0, 2, (3 * BATCH, N_VISIBLE)).astype(float))
    persistent_chain = tc.shared(np.zeros((BATCH, N_HIDDEN)), borrow=True)
    rbm = RBM(x, W0, rng.normal(0, 0.3, N_HIDDEN), rng.normal(0, 0.3, N_VISIBLE), seed=8)
    cost, updates = rbm.get_cost_updates(lr=0.1, persistent=persistent_chain, k=2)
    assert persistent_chain in updates and rbm.bit_i_idx in updates
    train_rbm = tc.function(
        [index],
        [cost, *rbm.samples],
        updates=updates,
        givens={x: train_set_x[index * BATCH : (index + 1) * BATCH]},
        name="train_rbm",
    )
    for call in range(N_VISIBLE + 1):
        W, hb, vb = _params(rbm)
        start = persistent_chain.get_value()
        data = train_set_x.get_value()[(call % 3) * BATCH : (call % 3 + 1) * BATCH]
        out = train_rbm(call % 3)
        _check_chain(out[1:], start, W, hb, vb)
        np.testing.assert_array_equal(persistent_chain.get_value(), out[3][-1])
        np.testing.assert_allclose(out[0], _pl_cost(data, call % N_VISIBLE, W, hb, vb), rtol=1e-9)
        assert rbm.bit_i_idx.get_value() == (call + 1) % N_VISIBLE
        grads = _cd_gradients(data, out[2][-1], W, hb)
        for got, p, g in zip(_params(rbm), (W, hb, vb), grads, strict=True):
            np.testing.assert_allclose(got, p - 0.1 * g, rtol=1e-9, atol=1e-14)
    assert np.isin(persistent_chain.get_value(), [0.0, 1.0]).all() and persistent_chain.get_value().any()


def test_sampling_from_a_persistent_visible_chain() -> None:
    """The end of rbm.py's test_rbm: gibbs_vhv scanned plot_every times from a shared chain,
    the chain updated with `updates.update({persistent_vis_chain: vis_samples[-1]})`."""
    rng = np.random.default_rng(14)
    W, hb, vb = _saturated_params(rng)
    rbm = RBM(T.matrix("x"), W, hb, vb, seed=9)
    persistent_vis_chain = tc.shared(_binary_data(rng))
    plot_every = 4
    (
        [presig_hids, hid_mfs, hid_samples, presig_vis, vis_mfs, vis_samples],
        updates,
    ) = tc.scan(
        rbm.gibbs_vhv,
        outputs_info=[None, None, None, None, None, persistent_vis_chain],
        n_steps=plot_every,
        name="gibbs_vhv",
    )
    updates.update({persistent_vis_chain: vis_samples[-1]})
    sample_fn = tc.function([], [vis_mfs[-1], vis_samples[-1]], updates=updates, name="sample_fn")
    v = persistent_vis_chain.get_value()
    for _ in range(3):
        for _ in range(plot_every):
            h = (v @ W + hb > 0).astype(float)
            pre = h @ W.T + vb
            v = (pre > 0).astype(float)
        means, samples = sample_fn()
        np.testing.assert_allclose(means, _sigmoid(pre), rtol=1e-9)
        np.testing.assert_array_equal(samples, v)
        np.testing.assert_array_equal(persistent_vis_chain.get_value(), v)
