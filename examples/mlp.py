"""A multilayer perceptron (784-500-10, tanh) trained by minibatch SGD: deeplearning.net's mlp on tc.

    python examples/mlp.py                          # Fashion-MNIST, 5 epochs
    python examples/mlp.py --data mnist.pkl.gz --dtype float32 --plot curve.png

The tutorial's model: a tanh hidden layer initialised uniformly in
+-sqrt(6 / (n_in + n_out)), a softmax output layer starting at zero, the
negative log-likelihood plus L1 (0.00) and L2 (0.0001) penalties, learning
rate 0.01, minibatches of 20.
"""

from __future__ import annotations

import numpy as np
from logistic_sgd import LogisticRegression
from training import Model, load, parse_arguments, report, shared_dataset, train

import tc
from tc import tensor as T


class HiddenLayer:
    def __init__(self, rng: np.random.RandomState, input, n_in: int, n_out: int, dtype: str) -> None:  # type: ignore[no-untyped-def]
        bound = np.sqrt(6.0 / (n_in + n_out))
        W_values = np.asarray(rng.uniform(low=-bound, high=bound, size=(n_in, n_out)), dtype=dtype)
        self.W = tc.shared(W_values, name="W", borrow=True)
        self.b = tc.shared(np.zeros((n_out,), dtype=dtype), name="b", borrow=True)
        self.output = T.tanh(T.dot(input, self.W) + self.b)
        self.params = [self.W, self.b]


class MLP:
    def __init__(self, rng: np.random.RandomState, input, n_in: int, n_hidden: int, n_out: int, dtype: str):  # type: ignore[no-untyped-def]
        self.hidden_layer = HiddenLayer(rng, input, n_in, n_hidden, dtype)
        self.log_regression_layer = LogisticRegression(self.hidden_layer.output, n_hidden, n_out, dtype)
        self.L1 = abs(self.hidden_layer.W).sum() + abs(self.log_regression_layer.W).sum()
        self.L2_sqr = (self.hidden_layer.W**2).sum() + (self.log_regression_layer.W**2).sum()
        self.negative_log_likelihood = self.log_regression_layer.negative_log_likelihood
        self.errors = self.log_regression_layer.errors
        self.params = self.hidden_layer.params + self.log_regression_layer.params


def build(  # type: ignore[no-untyped-def]
    datasets,
    dtype: str,
    learning_rate: float = 0.01,
    L1_reg: float = 0.00,
    L2_reg: float = 0.0001,
    batch_size: int = 20,
    n_hidden: int = 500,
):
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = (shared_dataset(d, dtype) for d in datasets)
    batches = tuple(len(d[0]) // batch_size for d in datasets)

    index = T.lscalar("index")
    x = T.matrix("x", dtype=dtype)
    y = T.ivector("y")
    rng = np.random.RandomState(1234)
    classifier = MLP(rng, x, 28 * 28, n_hidden, 10, dtype)
    cost = classifier.negative_log_likelihood(y) + L1_reg * classifier.L1 + L2_reg * classifier.L2_sqr

    def minibatch(data_x, data_y):  # type: ignore[no-untyped-def]
        window = slice(index * batch_size, (index + 1) * batch_size)
        return {x: data_x[window], y: data_y[window]}

    test_model = tc.function([index], classifier.errors(y), givens=minibatch(test_x, test_y))
    validate_model = tc.function([index], classifier.errors(y), givens=minibatch(valid_x, valid_y))
    gparams = [T.grad(cost, param) for param in classifier.params]
    updates = [
        (param, param - learning_rate * gparam)
        for param, gparam in zip(classifier.params, gparams, strict=True)
    ]
    train_model = tc.function([index], cost, updates=updates, givens=minibatch(train_x, train_y))
    test_all = tc.function([], classifier.errors(y), givens={x: test_x, y: test_y})
    return Model(train_model, validate_model, test_model, test_all, batches, classifier)


def main() -> None:
    args = parse_arguments(
        "a 784-500-10 multilayer perceptron on MNIST-format data (deeplearning.net's mlp)", 5
    )
    model = build(load(args), args.dtype)
    result = train(model, args.epochs, args.quiet, patience=10000)
    report(f"MLP 784-500-10 ({args.dtype})", result, args.plot)


if __name__ == "__main__":
    main()
