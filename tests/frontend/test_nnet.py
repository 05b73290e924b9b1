"""T.nnet helpers built from reductions and elementwise ops, compiled and compared with numpy."""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T


def _softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_softmax_family_is_stable_on_large_logits() -> None:
    x, t = T.dmatrix("x"), T.dmatrix("t")
    p = T.nnet.softmax(x)
    f = tc.function([x, t], [p, T.nnet.log_softmax(x), T.nnet.categorical_crossentropy(p, t)])
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0], [-5.0, -5.0, -5.0]])
    onehot = np.eye(3)[[0, 2, 1]]
    softmax, log_softmax, ce = f(logits, onehot * 0.98 + 0.01)
    assert np.all(np.isfinite(softmax)) and np.all(np.isfinite(log_softmax))
    np.testing.assert_allclose(softmax, _softmax(logits), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(log_softmax[1:], np.log(_softmax(logits[1:])), rtol=1e-12)
    assert log_softmax[0].tolist() == [0.0, -1000.0, -2000.0]
    np.testing.assert_allclose(ce[1:], -(np.log(_softmax(logits[1:])) * (onehot[1:] * 0.98 + 0.01)).sum(-1))


def test_binary_crossentropy_and_relu() -> None:
    o, t = T.dvector("o"), T.dvector("t")
    out = np.array([0.1, 0.5, 0.9])
    target = np.array([0.0, 1.0, 1.0])
    bce, relu = tc.function([o, t], [T.nnet.binary_crossentropy(o, t), T.nnet.relu(o - 0.5)])(out, target)
    np.testing.assert_allclose(bce, -(target * np.log(out) + (1 - target) * np.log(1 - out)))
    np.testing.assert_allclose(relu, np.maximum(out - 0.5, 0))


def test_integer_labels_are_not_supported_yet() -> None:
    with pytest.raises(tc.TcTypeError, match="one-hot"):
        T.nnet.categorical_crossentropy(T.dmatrix("p"), T.lmatrix("y"))
