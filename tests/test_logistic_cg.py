"""deeplearning.net's logistic_cg.py on tc: logistic regression on one flat parameter vector,
minimized by scipy's nonlinear conjugate gradient.

theta is a shared vector; W = theta[0:n_in * n_out].reshape((n_in, n_out)) and b =
theta[n_in * n_out:] are views of it. One tc function gives a minibatch's cost, another the
gradient wrt theta (by an offset, through `givens`); scipy.optimize.fmin_cg sets theta and
averages them over the minibatches, as the tutorial's train_fn and train_fn_grad do. The
values are checked against numpy at several points, and the optimizer's iterates against a
numpy-only fmin_cg run of the same problem.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

import tc
from tc import tensor as T

N_IN, N_OUT, BATCH, N_BATCHES = 30, 4, 50, 6


class LogisticRegression:
    def __init__(self, input, n_in: int, n_out: int) -> None:  # type: ignore[no-untyped-def]
        self.theta = tc.shared(np.zeros(n_in * n_out + n_out), name="theta", borrow=True)
        self.W = self.theta[0 : n_in * n_out].reshape((n_in, n_out))
        self.b = self.theta[n_in * n_out : n_in * n_out + n_out]
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=-1)

    def negative_log_likelihood(self, y):  # type: ignore[no-untyped-def]
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):  # type: ignore[no-untyped-def]
        return T.mean(T.neq(self.y_pred, y))


def data(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Four overlapping Gaussian classes: the optimum is finite and reached in tens of steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_OUT, BATCH * N_BATCHES)
    centres = np.random.default_rng(0).normal(size=(N_OUT, N_IN))
    return centres[labels] + 2.0 * rng.normal(size=(len(labels), N_IN)), labels


def build(x_value: np.ndarray, y_value: np.ndarray):  # type: ignore[no-untyped-def]
    """The tutorial's train_fn and train_fn_grad (with the classifier and the error function)."""
    train_set_x = tc.shared(x_value, name="train_x")
    train_set_y = T.cast(tc.shared(y_value.astype("float64"), name="train_y"), "int32")
    minibatch_offset = T.lscalar()
    x, y = T.matrix(), T.ivector()
    classifier = LogisticRegression(x, N_IN, N_OUT)
    cost = classifier.negative_log_likelihood(y).mean()
    window = slice(minibatch_offset, minibatch_offset + BATCH)
    givens = {x: train_set_x[window], y: train_set_y[window]}
    batch_cost = tc.function([minibatch_offset], cost, givens=givens)
    batch_grad = tc.function([minibatch_offset], T.grad(cost, classifier.theta), givens=givens)
    errors = tc.function([], classifier.errors(y), givens={x: train_set_x, y: train_set_y})

    def train_fn(theta_value: np.ndarray) -> float:
        classifier.theta.set_value(theta_value, borrow=True)
        return float(np.mean([batch_cost(i * BATCH) for i in range(N_BATCHES)]))

    def train_fn_grad(theta_value: np.ndarray) -> np.ndarray:
        classifier.theta.set_value(theta_value, borrow=True)
        grad = batch_grad(0)
        for i in range(1, N_BATCHES):
            grad += batch_grad(i * BATCH)  # in place, as the tutorial: results must not alias
        return grad / N_BATCHES

    return train_fn, train_fn_grad, classifier, errors


def numpy_cost_grad(theta: np.ndarray, x: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """The mean over minibatches of each minibatch's mean negative log-likelihood, and its gradient."""
    costs, grads = [], []
    for i in range(N_BATCHES):
        xb, yb = x[i * BATCH : (i + 1) * BATCH], labels[i * BATCH : (i + 1) * BATCH]
        W, b = theta[: N_IN * N_OUT].reshape(N_IN, N_OUT), theta[N_IN * N_OUT :]
        z = xb @ W + b
        log_p = z - z.max(axis=1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
        costs.append(-np.mean(log_p[np.arange(BATCH), yb]))
        delta = np.exp(log_p)
        delta[np.arange(BATCH), yb] -= 1
        delta /= BATCH
        grads.append(np.concatenate([(xb.T @ delta).ravel(), delta.sum(axis=0)]))
    return float(np.mean(costs)), np.mean(grads, axis=0)


@pytest.mark.parametrize("scale", [0.0, 0.1, 1.0])
def test_cost_and_gradient_match_numpy(scale: float) -> None:
    x, labels = data()
    train_fn, train_fn_grad, classifier, _ = build(x, labels)
    for seed in range(3):
        theta = scale * np.random.default_rng(seed).normal(size=(N_IN + 1) * N_OUT)
        cost, grad = numpy_cost_grad(theta, x, labels)
        np.testing.assert_allclose(train_fn(theta.copy()), cost, rtol=1e-12)
        np.testing.assert_allclose(train_fn_grad(theta.copy()), grad, rtol=1e-10, atol=1e-14)
        # W and b are views of theta: the reshape is row-major, b its tail.
        np.testing.assert_array_equal(classifier.theta.get_value(), theta)


def test_gradient_matches_finite_differences() -> None:
    x, labels = data()
    train_fn, train_fn_grad, _, _ = build(x, labels)
    theta = 0.3 * np.random.default_rng(7).normal(size=(N_IN + 1) * N_OUT)
    assert scipy.optimize.check_grad(train_fn, train_fn_grad, theta) < 1e-6


def run_fmin_cg(f, fprime, maxiter: int) -> tuple[np.ndarray, list[np.ndarray], int]:  # type: ignore[no-untyped-def]
    iterates: list[np.ndarray] = []
    best, _, calls, _, _ = scipy.optimize.fmin_cg(
        f=f,
        x0=np.zeros((N_IN + 1) * N_OUT),
        fprime=fprime,
        callback=lambda theta: iterates.append(theta.copy()),
        disp=0,
        maxiter=maxiter,
        full_output=True,
    )
    return best, iterates, calls


def test_fmin_cg_follows_the_numpy_run() -> None:
    x, labels = data()
    train_fn, train_fn_grad, classifier, errors = build(x, labels)
    initial_error = float(errors())
    best, iterates, calls = run_fmin_cg(train_fn, train_fn_grad, maxiter=12)
    expected_best, expected_iterates, expected_calls = run_fmin_cg(
        lambda theta: numpy_cost_grad(theta, x, labels)[0],
        lambda theta: numpy_cost_grad(theta, x, labels)[1],
        maxiter=12,
    )
    assert len(iterates) == len(expected_iterates) == 12 and calls == expected_calls
    for got, expected in zip(iterates, expected_iterates, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(best, expected_best, rtol=1e-7, atol=1e-9)
    costs = [numpy_cost_grad(theta, x, labels)[0] for theta in iterates]
    assert all(b <= a for a, b in zip(costs, costs[1:], strict=False))
    assert costs[-1] < 0.5 * np.log(N_OUT)  # from log(4) at theta = 0
    classifier.theta.set_value(best)
    assert float(errors()) < 0.5 * initial_error
