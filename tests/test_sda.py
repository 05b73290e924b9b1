"""deeplearning.net's SdA.py, shortened: stacked denoising autoencoders on tc.

dA layers with tied weights, inputs corrupted by `theano_rng.binomial(size=input.shape, n=1,
p=1 - corruption_level) * input`, the cross-entropy reconstruction cost; greedy layer-wise
pretraining functions taking `tc.In(corruption_level, value=0.2)` and `tc.In(learning_rate,
value=0.1)`, an index and `givens`; then fine-tuning of the stack with a logistic regression
on top. The deterministic steps (pretraining with corruption_level=0, fine-tuning) are checked
against the same steps in numpy, the corrupted pretraining against its own cost.
"""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.random import RandomStreams

floatX = "float64"
N_IN, HIDDEN, N_OUT, BATCH = 20, (15, 10), 3, 10
RTOL = 1e-9


class HiddenLayer:
    def __init__(self, rng: np.random.RandomState, input, n_in: int, n_out: int) -> None:  # type: ignore[no-untyped-def]
        bound = 4 * np.sqrt(6.0 / (n_in + n_out))  # the sigmoid's range, as the tutorial
        self.W = tc.shared(rng.uniform(-bound, bound, (n_in, n_out)).astype(floatX), name="W")
        self.b = tc.shared(np.zeros(n_out, dtype=floatX), name="b")
        self.output = T.nnet.sigmoid(T.dot(input, self.W) + self.b)
        self.params = [self.W, self.b]


class LogisticRegression:
    def __init__(self, input, n_in: int, n_out: int) -> None:  # type: ignore[no-untyped-def]
        self.W = tc.shared(np.zeros((n_in, n_out), dtype=floatX), name="W")
        self.b = tc.shared(np.zeros(n_out, dtype=floatX), name="b")
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]

    def negative_log_likelihood(self, y):  # type: ignore[no-untyped-def]
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):  # type: ignore[no-untyped-def]
        return T.mean(T.neq(self.y_pred, y))


class dA:
    """A denoising autoencoder sharing W and the hidden bias with a sigmoid layer."""

    def __init__(self, theano_rng: RandomStreams, input, n_visible: int, W, bhid) -> None:  # type: ignore[no-untyped-def]
        self.theano_rng = theano_rng
        self.x = input
        self.W, self.b = W, bhid
        self.b_prime = tc.shared(np.zeros(n_visible, dtype=floatX), name="bvis")
        self.W_prime = self.W.T
        self.params = [self.W, self.b, self.b_prime]

    def get_corrupted_input(self, input, corruption_level):  # type: ignore[no-untyped-def]
        return self.theano_rng.binomial(size=input.shape, n=1, p=1 - corruption_level, dtype=floatX) * input

    def get_cost_updates(self, corruption_level, learning_rate):  # type: ignore[no-untyped-def]
        tilde_x = self.get_corrupted_input(self.x, corruption_level)
        y = T.nnet.sigmoid(T.dot(tilde_x, self.W) + self.b)
        z = T.nnet.sigmoid(T.dot(y, self.W_prime) + self.b_prime)
        L = -T.sum(self.x * T.log(z) + (1 - self.x) * T.log(1 - z), axis=1)
        cost = T.mean(L)
        gparams = T.grad(cost, self.params)
        return cost, [(p, p - learning_rate * g) for p, g in zip(self.params, gparams, strict=True)]


class SdA:
    def __init__(self, numpy_rng: np.random.RandomState) -> None:
        theano_rng = RandomStreams(numpy_rng.randint(2**30))
        self.x, self.y = T.matrix("x", dtype=floatX), T.ivector("y")
        self.sigmoid_layers: list[HiddenLayer] = []
        self.dA_layers: list[dA] = []
        self.params: list = []  # type: ignore[type-arg]
        layer_input, n_in = self.x, N_IN
        for n_hidden in HIDDEN:
            layer = HiddenLayer(numpy_rng, layer_input, n_in, n_hidden)
            self.sigmoid_layers.append(layer)
            self.params.extend(layer.params)
            self.dA_layers.append(dA(theano_rng, layer_input, n_in, layer.W, layer.b))
            layer_input, n_in = layer.output, n_hidden
        self.logLayer = LogisticRegression(layer_input, n_in, N_OUT)
        self.params.extend(self.logLayer.params)
        self.finetune_cost = self.logLayer.negative_log_likelihood(self.y)
        self.errors = self.logLayer.errors(self.y)

    def pretraining_functions(self, train_set_x):  # type: ignore[no-untyped-def]
        index = T.lscalar("index")
        corruption_level = T.scalar("corruption", dtype=floatX)
        learning_rate = T.scalar("lr", dtype=floatX)
        batch_begin = index * BATCH
        fns = []
        for da in self.dA_layers:
            cost, updates = da.get_cost_updates(corruption_level, learning_rate)
            fn = tc.function(
                inputs=[index, tc.In(corruption_level, value=0.2), tc.In(learning_rate, value=0.1)],
                outputs=cost,
                updates=updates,
                givens={self.x: train_set_x[batch_begin : batch_begin + BATCH]},
            )
            fns.append(fn)
        return fns

    def finetune_function(self, train_set_x, train_set_y, learning_rate: float):  # type: ignore[no-untyped-def]
        index = T.lscalar("index")
        gparams = T.grad(self.finetune_cost, self.params)
        updates = [(p, p - g * learning_rate) for p, g in zip(self.params, gparams, strict=True)]
        window = slice(index * BATCH, (index + 1) * BATCH)
        givens = {self.x: train_set_x[window], self.y: train_set_y[window]}
        return tc.function([index], self.finetune_cost, updates=updates, givens=givens)


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of noisy 20-pixel prototypes, pixels in [0, 1]."""
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(0).random((N_OUT, N_IN))
    labels = rng.integers(0, N_OUT, n)
    return np.clip(prototypes[labels] + 0.3 * rng.normal(size=(n, N_IN)), 0, 1), labels


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-a))


def numpy_pretrain_step(
    params: list[np.ndarray], k: int, bvis: np.ndarray, x: np.ndarray, lr: float
) -> float:
    """One uncorrupted step of dA k on `params` (the stack's, in place) and `bvis`; the cost before."""
    for W, b in zip(params[0 : 2 * k : 2], params[1 : 2 * k : 2], strict=True):
        x = sigmoid(x @ W + b)
    W, b = params[2 * k], params[2 * k + 1]
    y = sigmoid(x @ W + b)
    z = sigmoid(y @ W.T + bvis)
    cost = float(np.mean(-np.sum(x * np.log(z) + (1 - x) * np.log(1 - z), axis=1)))
    g_z = (z - x) / len(x)  # d cost / d (y W' + bvis)
    g_y = (g_z @ W) * y * (1 - y)
    g_W = x.T @ g_y + g_z.T @ y  # encoder + tied decoder
    W -= lr * g_W
    b -= lr * g_y.sum(axis=0)
    bvis -= lr * g_z.sum(axis=0)
    return cost


def numpy_finetune_step(params: list[np.ndarray], x: np.ndarray, labels: np.ndarray, lr: float) -> float:
    activations = [x]
    for W, b in zip(params[0:-2:2], params[1:-2:2], strict=True):
        activations.append(sigmoid(activations[-1] @ W + b))
    logits = activations[-1] @ params[-2] + params[-1]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n = len(x)
    cost = float(-np.mean(np.log(p[np.arange(n), labels])))
    delta = p.copy()
    delta[np.arange(n), labels] -= 1
    delta /= n
    grads = []
    for layer in range(len(params) // 2 - 1, -1, -1):
        a = activations[layer]
        grads[:0] = [a.T @ delta, delta.sum(axis=0)]
        delta = (delta @ params[2 * layer].T) * a * (1 - a)
    for param, grad in zip(params, grads, strict=True):
        param -= lr * grad
    return cost


def build(seed: int = 89677):  # type: ignore[no-untyped-def]
    x, y = data(60, 1)
    shared_x = tc.shared(x, name="train_x")
    shared_y = T.cast(tc.shared(y.astype(floatX), name="train_y"), "int32")
    sda = SdA(np.random.RandomState(seed))
    # The logistic layer starts at zero; a random start tests its gradient path harder.
    sda.logLayer.W.set_value(np.random.default_rng(4).normal(scale=0.5, size=(HIDDEN[-1], N_OUT)))
    return sda, x, y, shared_x, shared_y


def test_uncorrupted_pretraining_steps_match_numpy() -> None:
    sda, x, _, shared_x, _ = build()
    fns = sda.pretraining_functions(shared_x)
    params = [p.get_value() for p in sda.params[:-2]]
    for k, fn in enumerate(fns):
        bvis = sda.dA_layers[k].b_prime.get_value()
        for index, lr in ((0, 0.1), (3, 0.1), (5, 0.25), (0, 0.1)):
            window = x[index * BATCH : (index + 1) * BATCH]
            expected = numpy_pretrain_step(params, k, bvis, window, lr)
            if lr == 0.1:  # the In's default learning rate, the corruption by keyword
                got = fn(index, corruption=0.0)
            else:
                got = fn(index=index, corruption=0.0, lr=lr)
            np.testing.assert_allclose(float(got), expected, rtol=RTOL)
            for shared, value in zip(sda.params[:-2], params, strict=True):
                np.testing.assert_allclose(shared.get_value(), value, rtol=RTOL, atol=1e-13)
            np.testing.assert_allclose(sda.dA_layers[k].b_prime.get_value(), bvis, rtol=RTOL, atol=1e-13)


def test_finetuning_steps_match_numpy() -> None:
    sda, x, y, shared_x, shared_y = build()
    for k, fn in enumerate(sda.pretraining_functions(shared_x)):  # corrupted pretraining first
        for index in range(6):
            fn(index)
        assert not np.allclose(sda.sigmoid_layers[k].b.get_value(), 0)
    train_fn = sda.finetune_function(shared_x, shared_y, learning_rate=0.1)
    params = [p.get_value() for p in sda.params]
    for index in (0, 1, 2, 5, 0):
        window = slice(index * BATCH, (index + 1) * BATCH)
        expected = numpy_finetune_step(params, x[window], y[window], 0.1)
        np.testing.assert_allclose(float(train_fn(index)), expected, rtol=RTOL)
        for shared, value in zip(sda.params, params, strict=True):
            np.testing.assert_allclose(shared.get_value(), value, rtol=RTOL, atol=1e-13)


def test_corrupted_pretraining_runs_and_lowers_its_cost() -> None:
    sda, x, _, shared_x, _ = build()
    fns = sda.pretraining_functions(shared_x)
    for fn in fns:
        epochs = [np.mean([float(fn(i)) for i in range(6)]) for _ in range(15)]
        assert all(np.isfinite(epochs))
        assert epochs[-1] < 0.97 * epochs[0], epochs
    # The same step with corruption differs from the uncorrupted one: the mask is drawn.
    cost_noisy, cost_clean = (
        float(fns[0](0, corruption=0.5, lr=0.0)),
        float(fns[0](0, corruption=0.0, lr=0.0)),
    )
    assert cost_noisy != pytest.approx(cost_clean, rel=1e-6)


def test_corruption_zeroes_about_the_corruption_level() -> None:
    level = T.scalar("level", dtype=floatX)
    x = T.matrix("x", dtype=floatX)
    da = dA(RandomStreams(1234), x, N_IN, tc.shared(np.zeros((N_IN, 4))), tc.shared(np.zeros(4)))
    corrupt = tc.function([x, tc.In(level, value=0.3)], da.get_corrupted_input(x, level))
    values = np.random.default_rng(2).random((500, N_IN)) + 0.5
    first, second = corrupt(values), corrupt(values)
    for out in (first, second):
        kept = out != 0
        np.testing.assert_array_equal(out[kept], values[kept])
        assert abs((~kept).mean() - 0.3) < 0.02
    assert not np.array_equal(first, second)  # a new mask on every call
    np.testing.assert_array_equal(corrupt(values, level=0.0), values)
