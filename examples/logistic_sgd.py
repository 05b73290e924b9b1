"""Multiclass logistic regression trained by minibatch SGD: deeplearning.net's logistic_sgd on tc.

    python examples/logistic_sgd.py        # Fashion-MNIST (apt-get install dataset-fashion-mnist)
    python examples/logistic_sgd.py --data mnist.pkl.gz --epochs 5 --dtype float32 --plot curve.png

The model and the training function are the tutorial's, in Theano style: the
data sit in shared variables and each minibatch is a slice chosen through
`givens` by the minibatch index.
"""

from __future__ import annotations

import numpy as np
from training import Model, load, parse_arguments, report, shared_dataset, train

import tc
from tc import tensor as T


class LogisticRegression:
    """p(y | x) = softmax(x W + b); W and b start at zero."""

    def __init__(self, input: T.TensorVariable, n_in: int, n_out: int, dtype: str) -> None:
        self.W = tc.shared(np.zeros((n_in, n_out), dtype=dtype), name="W", borrow=True)
        self.b = tc.shared(np.zeros((n_out,), dtype=dtype), name="b", borrow=True)
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]
        self.input = input

    def negative_log_likelihood(self, y: T.TensorVariable) -> T.TensorVariable:
        """Mean over the minibatch of -log p(correct label); the stabiliser turns
        log(softmax) into log_softmax, so it stays finite."""
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y: T.TensorVariable) -> T.TensorVariable:
        return T.mean(T.neq(self.y_pred, y))


def build(datasets, dtype: str, learning_rate: float = 0.13, batch_size: int = 600):  # type: ignore[no-untyped-def]
    """The tutorial's compiled functions and the number of minibatches of each set."""
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = (shared_dataset(d, dtype) for d in datasets)
    batches = tuple(len(d[0]) // batch_size for d in datasets)

    index = T.lscalar("index")
    x = T.matrix("x", dtype=dtype)
    y = T.ivector("y")
    classifier = LogisticRegression(x, 28 * 28, 10, dtype)
    cost = classifier.negative_log_likelihood(y)

    def minibatch(data_x, data_y):  # type: ignore[no-untyped-def]
        window = slice(index * batch_size, (index + 1) * batch_size)
        return {x: data_x[window], y: data_y[window]}

    test_model = tc.function([index], classifier.errors(y), givens=minibatch(test_x, test_y))
    validate_model = tc.function([index], classifier.errors(y), givens=minibatch(valid_x, valid_y))
    g_W = T.grad(cost=cost, wrt=classifier.W)
    g_b = T.grad(cost=cost, wrt=classifier.b)
    updates = [
        (classifier.W, classifier.W - learning_rate * g_W),
        (classifier.b, classifier.b - learning_rate * g_b),
    ]
    train_model = tc.function([index], cost, updates=updates, givens=minibatch(train_x, train_y))
    test_all = tc.function([], classifier.errors(y), givens={x: test_x, y: test_y})
    return Model(train_model, validate_model, test_model, test_all, batches, classifier)


def main() -> None:
    args = parse_arguments("logistic regression on MNIST-format data (deeplearning.net's logistic_sgd)", 5)
    model = build(load(args), args.dtype)
    result = train(model, args.epochs, args.quiet)
    report(f"logistic regression ({args.dtype})", result, args.plot)


if __name__ == "__main__":
    main()
