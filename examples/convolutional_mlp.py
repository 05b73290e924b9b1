"""LeNet (two convolution + max-pooling layers, a tanh layer, softmax): deeplearning.net's
convolutional_mlp on tc.

    python examples/convolutional_mlp.py                 # Fashion-MNIST, 5 epochs, minibatches of 500
    python examples/convolutional_mlp.py --epochs 20 --dtype float32 --plot lenet.png
    python examples/convolutional_mlp.py --subset 2000 --epochs 1 --batch-size 50   # a quick check

The tutorial's model: 20 and then 50 5x5 filters, each layer `conv2d`, 2x2 `pool_2d`
(ignore_border=True) and tanh(pooled + b.dimshuffle('x', 0, 'x', 'x')), weights uniform in
+-sqrt(6 / (fan_in + fan_out)); a 500-unit tanh layer on the flattened 50x4x4 maps; a softmax
layer; the mean negative log-likelihood; SGD with learning rate 0.1 on minibatches of 500.
In Theano style: data in shared variables, each minibatch a slice chosen through `givens` by
its index, `T.grad` for the updates. The validation and test errors are printed after each epoch.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from collections.abc import Sequence

import numpy as np
from logistic_sgd import LogisticRegression
from mlp import HiddenLayer
from tqdm import tqdm
from training import Curve, Data, Model, Result, load, report, shared_dataset

import tc
from tc import tensor as T
from tc.tensor.signal import pool


class LeNetConvPoolLayer:
    """tanh(max-pool(conv2d(input, W)) + b), b broadcast over the images and the pixels."""

    def __init__(  # type: ignore[no-untyped-def]
        self,
        rng: np.random.RandomState,
        input,
        filter_shape: tuple[int, int, int, int],
        image_shape: tuple[int | None, int, int, int],
        poolsize: tuple[int, int] = (2, 2),
        dtype: str = "float64",
    ) -> None:
        assert image_shape[1] == filter_shape[1]
        fan_in = np.prod(filter_shape[1:])
        fan_out = filter_shape[0] * np.prod(filter_shape[2:]) // np.prod(poolsize)
        W_bound = np.sqrt(6.0 / (fan_in + fan_out))
        W_values = np.asarray(rng.uniform(low=-W_bound, high=W_bound, size=filter_shape), dtype=dtype)
        self.W = tc.shared(W_values, name="W", borrow=True)
        self.b = tc.shared(np.zeros((filter_shape[0],), dtype=dtype), name="b", borrow=True)
        conv_out = T.nnet.conv2d(
            input=input, filters=self.W, filter_shape=filter_shape, input_shape=image_shape
        )
        pooled_out = pool.pool_2d(input=conv_out, ws=poolsize, ignore_border=True)
        self.output = T.tanh(pooled_out + self.b.dimshuffle("x", 0, "x", "x"))
        self.params = [self.W, self.b]
        self.input = input


class LeNet:
    """The tutorial's layer0 .. layer3; `errors` and `negative_log_likelihood` are the softmax layer's."""

    def __init__(self, rng: np.random.RandomState, x, nkerns: Sequence[int], dtype: str) -> None:  # type: ignore[no-untyped-def]
        # The tutorial reshapes to (batch_size, 1, 28, 28); a symbolic batch size lets one graph
        # also score the whole test set in chunks, remainder included.
        layer0_input = x.reshape((x.shape[0], 1, 28, 28))
        self.layer0 = LeNetConvPoolLayer(  # 28x28 -> 24x24 -> 12x12
            rng, layer0_input, (nkerns[0], 1, 5, 5), (None, 1, 28, 28), dtype=dtype
        )
        self.layer1 = LeNetConvPoolLayer(  # 12x12 -> 8x8 -> 4x4
            rng, self.layer0.output, (nkerns[1], nkerns[0], 5, 5), (None, nkerns[0], 12, 12), dtype=dtype
        )
        self.layer2 = HiddenLayer(rng, self.layer1.output.flatten(2), nkerns[1] * 4 * 4, 500, dtype)
        self.layer3 = LogisticRegression(self.layer2.output, 500, 10, dtype)
        self.negative_log_likelihood = self.layer3.negative_log_likelihood
        self.errors = self.layer3.errors
        self.params = self.layer3.params + self.layer2.params + self.layer1.params + self.layer0.params


def build(  # type: ignore[no-untyped-def]
    datasets,
    dtype: str,
    learning_rate: float = 0.1,
    batch_size: int = 500,
    nkerns: Sequence[int] = (20, 50),
    seed: int = 23455,
) -> Model:
    """The tutorial's compiled functions and the number of minibatches of each set."""
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = (shared_dataset(d, dtype) for d in datasets)
    batches = tuple(len(d[0]) // batch_size for d in datasets)
    n_test = len(datasets[2][0])

    index = T.lscalar("index")
    x = T.matrix("x", dtype=dtype)
    y = T.ivector("y")
    classifier = LeNet(np.random.RandomState(seed), x, nkerns, dtype)
    cost = classifier.negative_log_likelihood(y)

    def minibatch(data_x, data_y):  # type: ignore[no-untyped-def]
        window = slice(index * batch_size, (index + 1) * batch_size)
        return {x: data_x[window], y: data_y[window]}

    test_model = tc.function([index], classifier.errors(y), givens=minibatch(test_x, test_y))
    validate_model = tc.function([index], classifier.errors(y), givens=minibatch(valid_x, valid_y))
    grads = T.grad(cost, classifier.params)
    updates = [
        (param_i, param_i - learning_rate * grad_i)
        for param_i, grad_i in zip(classifier.params, grads, strict=True)
    ]
    train_model = tc.function([index], cost, updates=updates, givens=minibatch(train_x, train_y))

    start, stop = T.lscalar("start"), T.lscalar("stop")
    chunk = tc.function(
        [start, stop], classifier.errors(y), givens={x: test_x[start:stop], y: test_y[start:stop]}
    )

    def test_all() -> float:
        """The error on every test image, in chunks of 1000 (memory stays small)."""
        bounds = [(lo, min(lo + 1000, n_test)) for lo in range(0, n_test, 1000)]
        return sum(float(chunk(lo, hi)) * (hi - lo) for lo, hi in bounds) / n_test

    return Model(train_model, validate_model, test_model, test_all, batches, classifier)  # type: ignore[arg-type]


def train(model: Model, n_epochs: int, quiet: bool = False, patience: int = 10000) -> Result:
    """The tutorial's loop: SGD over the minibatches, validation (and the test error) after each
    epoch, early stopping when `patience` iterations pass without a clear improvement."""
    n_train, n_valid, n_test = model.batches
    patience_increase, improvement_threshold = 2, 0.995
    best_validation, test_at_best = np.inf, np.inf
    curve = Curve()
    start = time.perf_counter()
    progress = tqdm(total=n_epochs * n_train, disable=quiet, unit="batch", leave=False)
    epoch, iteration = 0, 0
    while epoch < n_epochs and iteration < patience:
        epoch += 1
        for minibatch in range(n_train):
            cost = model.train(minibatch)
            progress.update()
            iteration = (epoch - 1) * n_train + minibatch + 1
        validation = 100 * float(np.mean([model.validate(i) for i in range(n_valid)]))
        test = 100 * float(np.mean([model.test(i) for i in range(n_test)]))
        curve.epochs.append(epoch)
        curve.validation.append(validation)
        curve.test.append(test)
        progress.set_postfix(cost=f"{float(cost):.4f}", valid=f"{validation:.2f}%")
        tqdm.write(
            f"epoch {epoch}, {n_train} minibatches, cost {float(cost):.4f}: "
            f"validation error {validation:.2f}%, test error {test:.2f}%"
        )
        if validation < best_validation:
            if validation < best_validation * improvement_threshold:
                patience = max(patience, iteration * patience_increase)
            best_validation, test_at_best = validation, test
    progress.close()
    seconds = time.perf_counter() - start
    final_test = 100 * float(model.test_all())
    return Result(best_validation, test_at_best, final_test, epoch, seconds, curve)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="LeNet on MNIST-format data (deeplearning.net's convolutional_mlp)"
    )
    parser.add_argument(
        "--data", default=None, help="mnist.pkl.gz or a folder of IDX files (default: Fashion-MNIST)"
    )
    parser.add_argument("--epochs", type=int, default=5, help="default: %(default)s")
    parser.add_argument("--batch-size", type=int, default=500, help="default: %(default)s")
    parser.add_argument("--learning-rate", type=float, default=0.1, help="default: %(default)s")
    parser.add_argument(
        "--dtype", choices=("float32", "float64"), default="float64", help="default: %(default)s"
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default=None, help="where to train (default: tc.config.device)"
    )
    parser.add_argument("--subset", type=int, metavar="N", help="only the first N images of each set")
    parser.add_argument("--plot", metavar="PNG", help="write the learning curve here (needs matplotlib)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--all-training-images",
        action="store_true",
        help="train on all 60,000 images, the validation split too",
    )
    args = parser.parse_args()
    if args.data is not None and not os.path.exists(args.data):
        parser.error(f"--data {args.data}: no such file or folder")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        parser.error("--plot needs matplotlib: pip install 'tc[examples]'")
    for option in ("epochs", "batch_size", "subset"):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1, found {value}")
    if args.subset is not None and args.subset < args.batch_size:
        parser.error(f"--subset {args.subset} is smaller than one minibatch (--batch-size {args.batch_size})")
    if args.learning_rate <= 0:
        parser.error(f"--learning-rate must be positive, found {args.learning_rate}")
    if args.device is not None:
        tc.config.device = args.device
    return args


def main() -> None:
    args = parse_arguments()
    datasets: tuple[Data, ...] = load(args)
    if args.subset is not None:
        datasets = tuple((x[: args.subset], y[: args.subset]) for x, y in datasets)
    model = build(datasets, args.dtype, args.learning_rate, args.batch_size)
    result = train(model, args.epochs, args.quiet)
    report(f"LeNet 20-50-500 ({args.dtype}, batch {args.batch_size})", result, args.plot)


if __name__ == "__main__":
    main()
