"""What the deeplearning.net examples share: options, data in shared variables,
minibatch SGD with early stopping, a progress bar, a summary and the learning curve.

Used by logistic_sgd.py and mlp.py; the models themselves live in those files.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

import tc
from tc import tensor as T
from tc.datasets import TcDataError, load_mnist

Data = tuple[np.ndarray, np.ndarray]


def parse_arguments(description: str, epochs: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--data", default=None, help="mnist.pkl.gz or a folder of IDX files (default: Fashion-MNIST)"
    )
    parser.add_argument(
        "--epochs", type=int, default=epochs, help="passes over the training set (default: %(default)s)"
    )
    parser.add_argument(
        "--dtype", choices=("float32", "float64"), default="float64", help="default: %(default)s"
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default=None, help="where to train (default: tc.config.device)"
    )
    parser.add_argument("--plot", metavar="PNG", help="write the learning curve here (needs matplotlib)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--all-training-images",
        action="store_true",
        help="train on all 60,000 images, the validation split too (how the reference errors were measured)",
    )
    args = parser.parse_args()
    # Check what would fail after training before spending minutes on it.
    if args.data is not None and not os.path.exists(args.data):
        parser.error(f"--data {args.data}: no such file or folder")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        parser.error("--plot needs matplotlib: pip install 'tc[examples]'")
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, found {args.epochs}")
    if args.device is not None:
        tc.config.device = args.device  # every tc.shared and tc.function below goes there
    return args


def load(args: argparse.Namespace) -> tuple[Data, Data, Data]:
    """The data set the options name, as (train, valid, test) pairs."""
    try:
        train_set, valid_set, test_set = load_mnist(args.data, dtype=args.dtype)
    except TcDataError as err:
        raise SystemExit(f"error: {err}") from None
    if args.all_training_images:
        images, labels = (np.concatenate([t, v]) for t, v in zip(train_set, valid_set, strict=True))
        train_set = (images, labels)
    return train_set, valid_set, test_set


def shared_dataset(
    data_xy: tuple[np.ndarray, np.ndarray], dtype: str
) -> tuple[T.TensorVariable, T.TensorVariable]:
    """Images and labels in shared variables, so minibatches are sliced without copies.

    Labels are stored as floats and cast to int32 symbolically, as the Theano tutorial does.
    """
    x, y = data_xy
    shared_x = tc.shared(np.asarray(x, dtype=dtype), borrow=True)
    shared_y = tc.shared(np.asarray(y, dtype=dtype), borrow=True)
    return shared_x, T.cast(shared_y, "int32")


@dataclass
class Model:
    """The compiled functions of a model: one SGD step and the errors of a validation or
    test minibatch (by index, as the tutorial), the error on the whole test set, and the
    number of minibatches of each set."""

    train: Callable[[int], object]
    validate: Callable[[int], object]
    test: Callable[[int], object]
    test_all: Callable[[], object]
    batches: tuple[int, int, int]
    classifier: object


@dataclass
class Curve:
    """Validation and test error (percent) after each validation, by epoch."""

    epochs: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)


@dataclass
class Result:
    best_validation: float  # percent, over the validation minibatches
    test_at_best: float  # percent, over the test minibatches
    final_test: float  # percent, over the whole test set
    epochs: int
    seconds: float
    curve: Curve


def train(model: Model, n_epochs: int, quiet: bool = False, patience: int = 5000) -> Result:
    """Minibatch SGD with the tutorial's early stopping (patience grows on improvement)."""
    train_model, validate_model, test_model = model.train, model.validate, model.test
    n_train, n_valid, n_test = model.batches
    patience_increase, improvement_threshold = 2, 0.995
    validation_frequency = min(n_train, patience // 2)
    best_validation, test_at_best = np.inf, np.inf
    curve = Curve()
    start = time.perf_counter()
    epoch, done = 0, False
    progress = tqdm(total=n_epochs * n_train, disable=quiet, unit="batch", leave=False)
    while epoch < n_epochs and not done:
        epoch += 1
        for minibatch in range(n_train):
            cost = train_model(minibatch)
            progress.update()
            iteration = (epoch - 1) * n_train + minibatch
            if (iteration + 1) % validation_frequency == 0:
                validation = 100 * float(np.mean([validate_model(i) for i in range(n_valid)]))
                test = 100 * float(np.mean([test_model(i) for i in range(n_test)]))
                curve.epochs.append(epoch - 1 + (minibatch + 1) / n_train)
                curve.validation.append(validation)
                curve.test.append(test)
                progress.set_postfix(cost=f"{float(cost):.4f}", valid=f"{validation:.2f}%")
                if validation < best_validation:
                    if validation < best_validation * improvement_threshold:
                        patience = max(patience, iteration * patience_increase)
                    best_validation, test_at_best = validation, test
            if patience <= iteration:
                done = True
                break
    progress.close()
    seconds = time.perf_counter() - start
    final_test = 100 * float(model.test_all())  # every test image (minibatches drop the remainder)
    return Result(best_validation, test_at_best, final_test, epoch, seconds, curve)


def report(name: str, result: Result, plot: str | None) -> None:
    print(
        f"{name}: {result.epochs} epochs in {result.seconds:.1f} s "
        f"({result.seconds / result.epochs:.2f} s/epoch); "
        f"best validation error {result.best_validation:.2f}%, test error there {result.test_at_best:.2f}% "
        f"(minibatches); test error at the end {result.final_test:.2f}% (all test images)"
    )
    if plot:
        import matplotlib  # present: parse_arguments checked

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(6, 4))
        axes.plot(result.curve.epochs, result.curve.validation, label="validation")
        axes.plot(result.curve.epochs, result.curve.test, label="test")
        axes.set_xlabel("epoch")
        axes.set_ylabel("error (%)")
        axes.set_title(name)
        axes.legend()
        figure.tight_layout()
        figure.savefig(plot)
        print(f"learning curve written to {plot}")
