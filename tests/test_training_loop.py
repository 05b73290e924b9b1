"""End to end: a least-squares model trained with shared weights, updates, products,
transposes and reductions, and updates that read transposed views of themselves."""

from __future__ import annotations

import numpy as np

import tc
from tc import tensor as T


def test_linear_regression_by_gradient_descent_converges() -> None:
    rng = np.random.default_rng(0)
    true_w = rng.standard_normal((5, 1))
    data = rng.standard_normal((200, 5))
    targets = data @ true_w
    w = tc.shared(np.zeros((5, 1)), "w")
    x, y = T.dmatrix("x"), T.dmatrix("y")
    error = T.dot(x, w) - y
    cost = T.mean(error * error)
    gradient = T.dot(x.T, error) * (2.0 / 200)  # d cost / d w, written out
    train = tc.function([x, y], cost, updates=[(w, w - 0.1 * gradient)])
    costs = [float(train(data, targets)) for _ in range(200)]
    assert costs[-1] < 1e-10 < costs[0]
    np.testing.assert_allclose(w.get_value(), true_w, atol=1e-5)


def test_updates_that_read_a_transposed_view_of_the_same_variable() -> None:
    m = tc.shared(np.arange(9.0).reshape(3, 3), "m")
    swap = tc.function([], [], updates=[(m, m.T)])
    double_swap = tc.function([], [], updates=[(m, m.T * 2 + m)])
    swap()
    assert m.get_value().tolist() == np.arange(9.0).reshape(3, 3).T.tolist()
    before = m.get_value()
    double_swap()
    np.testing.assert_array_equal(m.get_value(), before.T * 2 + before)
