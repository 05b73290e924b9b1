"""deeplearning.net's rnnslu.py (the Elman network for slot filling), shortened: the model class
as written there (context windows of word indices padded with -1, the embedding lookup
reshaped to one row per word, the recurrence scanned over the sentence, the sentence NLL, SGD
updates of every parameter, normalisation of the embeddings), trained on 3 sentences; the
parameters after each step are compared with a numpy forward and backward pass of the same
steps (itself checked against central differences)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

import tc
import tc.tensor as T

NH, NC, NE, DE, CS = 6, 4, 15, 5, 3
NAMES = ["emb", "wx", "wh", "w", "bh", "b", "h0"]


def contextwin(sentence: list[int], win: int) -> list[list[int]]:
    assert (win % 2) == 1 and win >= 1
    lpadded = win // 2 * [-1] + list(sentence) + win // 2 * [-1]
    return [lpadded[i : (i + win)] for i in range(len(sentence))]


class RNNSLU:
    """rnnslu.py's class, with tc for theano and a seeded generator for numpy.random."""

    def __init__(self, nh: int, nc: int, ne: int, de: int, cs: int, rng: np.random.Generator) -> None:
        def uniform(*shape: int) -> np.ndarray:
            return 0.2 * rng.uniform(-1.0, 1.0, shape)

        self.emb = tc.shared(name="embeddings", value=uniform(ne + 1, de))  # one more for padding
        self.wx = tc.shared(name="wx", value=uniform(de * cs, nh))
        self.wh = tc.shared(name="wh", value=uniform(nh, nh))
        self.w = tc.shared(name="w", value=uniform(nh, nc))
        self.bh = tc.shared(name="bh", value=np.zeros(nh))
        self.b = tc.shared(name="b", value=np.zeros(nc))
        self.h0 = tc.shared(name="h0", value=np.zeros(nh))
        self.params = [self.emb, self.wx, self.wh, self.w, self.bh, self.b, self.h0]
        idxs = T.imatrix()
        x = self.emb[idxs].reshape((idxs.shape[0], de * cs))
        y_sentence = T.ivector("y_sentence")

        def recurrence(x_t, h_tm1):
            h_t = T.nnet.sigmoid(T.dot(x_t, self.wx) + T.dot(h_tm1, self.wh) + self.bh)
            s_t = T.nnet.softmax(T.dot(h_t, self.w) + self.b)
            return [h_t, s_t]

        [h, s], _ = tc.scan(fn=recurrence, sequences=x, outputs_info=[self.h0, None], n_steps=x.shape[0])
        p_y_given_x_sentence = s[:, 0, :]
        y_pred = T.argmax(p_y_given_x_sentence, axis=1)
        lr = T.scalar("lr")
        sentence_nll = -T.mean(T.log(p_y_given_x_sentence)[T.arange(x.shape[0]), y_sentence])
        sentence_gradients = T.grad(sentence_nll, self.params)
        sentence_updates = OrderedDict(
            (p, p - lr * g) for p, g in zip(self.params, sentence_gradients, strict=True)
        )
        self.classify = tc.function(inputs=[idxs], outputs=y_pred)
        self.probabilities = tc.function(inputs=[idxs], outputs=[p_y_given_x_sentence, h])
        self.sentence_train = tc.function(
            inputs=[idxs, y_sentence, lr], outputs=sentence_nll, updates=sentence_updates
        )
        self.normalize = tc.function(
            inputs=[],
            updates={self.emb: self.emb / T.sqrt((self.emb**2).sum(axis=1)).dimshuffle(0, "x")},
        )

    def train(self, x: list[int], y: np.ndarray, window_size: int, learning_rate: float) -> float:
        cwords = contextwin(x, window_size)
        words = [np.asarray(w).astype("int32") for w in cwords]
        nll = self.sentence_train(words, y, learning_rate)
        self.normalize()
        return float(nll)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _forward(p: dict[str, np.ndarray], idxs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = p["emb"][idxs].reshape(len(idxs), DE * CS)
    h, hs = p["h0"], []
    for x_t in x:
        h = _sigmoid(x_t @ p["wx"] + h @ p["wh"] + p["bh"])
        hs.append(h)
    logits = np.array(hs) @ p["w"] + p["b"]
    e = np.exp(logits - logits.max(1, keepdims=True))
    return x, np.array(hs), e / e.sum(1, keepdims=True)


def _nll(p: dict[str, np.ndarray], idxs: np.ndarray, y: np.ndarray) -> float:
    probs = _forward(p, idxs)[2]
    return float(-np.log(probs[np.arange(len(y)), y]).mean())


def _backward(p: dict[str, np.ndarray], idxs: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Backpropagation through time of the sentence NLL, by hand."""
    x, hs, probs = _forward(p, idxs)
    n = len(y)
    g = {k: np.zeros_like(v) for k, v in p.items()}
    dlogits = probs.copy()
    dlogits[np.arange(n), y] -= 1.0
    dlogits /= n
    g["w"], g["b"] = hs.T @ dlogits, dlogits.sum(0)
    dh_next = np.zeros(NH)
    for t in reversed(range(n)):
        h_prev = hs[t - 1] if t > 0 else p["h0"]
        dz = (dlogits[t] @ p["w"].T + dh_next) * hs[t] * (1 - hs[t])
        g["wx"] += np.outer(x[t], dz)
        g["wh"] += np.outer(h_prev, dz)
        g["bh"] += dz
        np.add.at(g["emb"], idxs[t], (p["wx"] @ dz).reshape(CS, DE))
        dh_next = p["wh"] @ dz
    g["h0"] = dh_next
    return g


def _numeric(p: dict[str, np.ndarray], idxs: np.ndarray, y: np.ndarray, name: str) -> np.ndarray:
    grad, eps = np.zeros_like(p[name]), 1e-6
    for index in np.ndindex(grad.shape):
        old = p[name][index]
        p[name][index] = old + eps
        up = _nll(p, idxs, y)
        p[name][index] = old - eps
        grad[index] = (up - _nll(p, idxs, y)) / (2 * eps)
        p[name][index] = old
    return grad


def _sentences(rng: np.random.Generator) -> list[tuple[list[int], np.ndarray]]:
    return [(list(rng.integers(0, NE, n)), rng.integers(0, NC, n).astype(np.int32)) for n in (4, 6, 3)]


def test_numpy_reference_backward_matches_central_differences() -> None:
    rng = np.random.default_rng(1)
    p = {"emb": rng.uniform(-1, 1, (NE + 1, DE)), "wx": rng.uniform(-1, 1, (DE * CS, NH))}
    p |= {"wh": rng.uniform(-1, 1, (NH, NH)), "w": rng.uniform(-1, 1, (NH, NC))}
    p |= {"bh": rng.uniform(-1, 1, NH), "b": rng.uniform(-1, 1, NC), "h0": rng.uniform(-1, 1, NH)}
    sentence, labels = _sentences(rng)[1]
    idxs = np.array(contextwin(sentence, CS))
    analytic = _backward(p, idxs, labels)
    for name in NAMES:
        np.testing.assert_allclose(analytic[name], _numeric(p, idxs, labels, name), rtol=1e-6, atol=1e-9)


def test_rnnslu_trains_three_sentences_like_numpy() -> None:
    rng = np.random.default_rng(2015)
    rnn = RNNSLU(NH, NC, NE, DE, CS, rng)
    p = {name: shared.get_value() for name, shared in zip(NAMES, rnn.params, strict=True)}
    lr = 0.5
    for sentence, labels in _sentences(rng):
        idxs = np.array(contextwin(sentence, CS), dtype=np.int32)
        probs, hs = rnn.probabilities(idxs)
        _, expected_hs, expected_probs = _forward(p, idxs)
        np.testing.assert_allclose(probs, expected_probs, rtol=1e-9)
        np.testing.assert_allclose(hs, expected_hs, rtol=1e-9)
        np.testing.assert_array_equal(rnn.classify(idxs), expected_probs.argmax(axis=1))
        expected_nll = _nll(p, idxs, labels)
        grads = _backward(p, idxs, labels)
        p = {name: p[name] - lr * grads[name] for name in NAMES}
        p["emb"] = p["emb"] / np.sqrt((p["emb"] ** 2).sum(axis=1))[:, None]
        np.testing.assert_allclose(rnn.train(sentence, labels, CS, lr), expected_nll, rtol=1e-9)
        for name, shared in zip(NAMES, rnn.params, strict=True):
            np.testing.assert_allclose(shared.get_value(), p[name], rtol=1e-9, atol=1e-14, err_msg=name)
        np.testing.assert_allclose(np.linalg.norm(rnn.emb.get_value(), axis=1), 1.0, rtol=1e-12)
    assert set(np.unique(idxs)) >= {-1}
