"""The deeplearning.net examples: one training step equals numpy's, and training learns.

Synthetic data keeps these fast; `test_fashion_mnist_*` use the real data
set when Debian's dataset-fashion-mnist is installed (CI installs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import convolutional_mlp  # noqa: E402
import logistic_sgd  # noqa: E402
import mlp  # noqa: E402
import rnn  # noqa: E402
from training import train  # noqa: E402

import tc  # noqa: E402
from tc.artifact import compile_artifact  # noqa: E402
from tc.datasets import default_data_path, load_mnist  # noqa: E402


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ten classes, each a noisy copy of its own random 784-pixel prototype."""
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(0).random((10, 784))
    labels = rng.integers(0, 10, size=n)
    images = np.clip(prototypes[labels] + 0.6 * rng.normal(size=(n, 784)), 0, 1)
    return images, labels


DATASETS = (synthetic(1200, 1), synthetic(600, 2), synthetic(600, 3))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_logistic_regression_step_matches_numpy(dtype: str) -> None:
    model = logistic_sgd.build(DATASETS, dtype)
    train_model, classifier = model.train, model.classifier
    W0 = np.random.default_rng(5).normal(scale=0.01, size=(784, 10)).astype(dtype)
    classifier.W.set_value(W0)
    cost = train_model(1)
    x, y = DATASETS[0][0][600:1200].astype(dtype), DATASETS[0][1][600:1200]
    p = softmax(x @ W0)
    expected_cost = -np.mean(np.log(p[np.arange(600), y]))
    delta = p.copy()
    delta[np.arange(600), y] -= 1
    delta /= 600
    tolerance = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(cost, expected_cost, rtol=tolerance)
    np.testing.assert_allclose(
        classifier.W.get_value(), W0 - 0.13 * x.T @ delta, rtol=tolerance, atol=tolerance
    )
    np.testing.assert_allclose(
        classifier.b.get_value(), -0.13 * delta.sum(axis=0), rtol=tolerance, atol=tolerance
    )


def test_mlp_step_matches_numpy() -> None:
    model = mlp.build(DATASETS, "float64")
    train_model, classifier = model.train, model.classifier
    W1, b1, W2, b2 = (p.get_value() for p in classifier.params)
    W2 = np.random.default_rng(6).normal(scale=0.1, size=W2.shape)
    classifier.params[2].set_value(W2)
    cost = train_model(3)
    x, y = DATASETS[0][0][60:80], DATASETS[0][1][60:80]
    h = np.tanh(x @ W1 + b1)
    p = softmax(h @ W2 + b2)
    expected = -np.mean(np.log(p[np.arange(20), y])) + 0.0001 * ((W1**2).sum() + (W2**2).sum())
    np.testing.assert_allclose(cost, expected, rtol=1e-10)
    delta = p.copy()
    delta[np.arange(20), y] -= 1
    delta /= 20
    g_W2 = h.T @ delta + 0.0002 * W2
    g_h = (delta @ W2.T) * (1 - h**2)
    g_W1 = x.T @ g_h + 0.0002 * W1
    new = [p.get_value() for p in classifier.params]
    np.testing.assert_allclose(new[0], W1 - 0.01 * g_W1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(new[1], b1 - 0.01 * g_h.sum(axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(new[2], W2 - 0.01 * g_W2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(new[3], b2 - 0.01 * delta.sum(axis=0), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("module,epochs", [(logistic_sgd, 20), (mlp, 3)])
def test_training_learns_the_synthetic_classes(module, epochs: int) -> None:  # type: ignore[no-untyped-def]
    result = train(module.build(DATASETS, "float64"), n_epochs=epochs, quiet=True)
    assert result.curve.validation[0] > result.best_validation or result.best_validation < 5
    assert result.final_test < 10  # chance is 90%


needs_fashion_mnist = pytest.mark.skipif(
    default_data_path() is None,
    reason="Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist",
)


def full_test_error(classifier, x: np.ndarray, y: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    W, b = classifier.W.get_value(), classifier.b.get_value()
    return 100 * float(np.mean(np.argmax(x @ W + b, axis=1) != y))


@needs_fashion_mnist
def test_fashion_mnist_logistic_regression_reaches_the_reference_error() -> None:
    """5 epochs, float64, file order, all 60,000 training images (100 minibatches), the whole
    test set: numpy, PyTensor and JAX all give 18.59% (the issue's reference protocol)."""
    (train_x, train_y), valid, (test_x, test_y) = load_mnist(None, dtype="float64")
    everything = (np.concatenate([train_x, valid[0]]), np.concatenate([train_y, valid[1]]))
    model = logistic_sgd.build((everything, valid, (test_x, test_y)), "float64")
    for _ in range(5):
        for index in range(model.batches[0]):
            model.train(index)
    error = 100 * float(model.test_all())
    assert abs(error - 18.59) <= 0.2
    assert error == full_test_error(model.classifier, test_x, test_y)


def test_logreg_tx_artifact_trains_like_the_python_example(tmp_path: Path) -> None:
    """examples/logreg.tx compiled ahead of time, loaded with tc.load: the same step as logistic_sgd.py."""
    root = Path(__file__).resolve().parents[1]
    compile_artifact(root / "examples" / "logreg.tx", tmp_path / "logreg")
    model = tc.load(tmp_path / "logreg")
    x, y = DATASETS[0]
    model.shared["data_x"].set_value(x)
    model.shared["data_y"].set_value(y.astype(np.int32))
    example = logistic_sgd.build(DATASETS, "float64")
    train_model, classifier = example.train, example.classifier
    for index in (0, 1, 0):
        np.testing.assert_allclose(model.train(index), train_model(index), rtol=1e-12)
    np.testing.assert_allclose(
        model.shared["W"].get_value(), classifier.W.get_value(), rtol=1e-10, atol=1e-14
    )
    error = float(model.errors(x, y.astype(np.int32)))
    assert error == pytest.approx(full_test_error(classifier, x, y) / 100)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--data", "/no/such/mnist.pkl.gz"], "--data /no/such/mnist.pkl.gz: no such file or folder"),
        (["--epochs", "0"], "--epochs must be at least 1"),
    ],
)
def test_example_options_are_checked_before_training(arguments: list[str], message: str) -> None:
    import subprocess

    script = Path(__file__).resolve().parents[1] / "examples" / "logistic_sgd.py"
    done = subprocess.run(
        [sys.executable, str(script), *arguments], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_elman_rnn_through_scan_matches_numpy_and_learns() -> None:
    """examples/rnn.py with small sizes: the cost is numpy's, and SGD through the scan lowers it."""
    train_set = rnn.sine_data(64, 20, 0.2, 1, "float64")
    valid_set = rnn.sine_data(32, 20, 0.2, 2, "float64")
    model = rnn.build(train_set, valid_set, n_hidden=16, learning_rate=0.2, batch_size=8, dtype="float64")
    W_y = np.random.default_rng(3).normal(scale=0.3, size=(16, 1))
    model.rnn.W_y.set_value(W_y)
    p = {param.name: param.get_value() for param in model.rnn.params}
    x, y = valid_set
    h, predictions = np.zeros((32, 16)), []
    for x_t in x:
        h = np.tanh(x_t @ p["W_x"] + h @ p["W_h"] + p["b_h"])
        predictions.append(h @ p["W_y"] + p["b_y"])
    np.testing.assert_allclose(model.validate(), np.mean((np.array(predictions) - y) ** 2), rtol=1e-12)
    history = rnn.train(model, n_epochs=4, quiet=True)
    assert history.train[-1] < history.train[0]
    assert history.validation[-1] < 0.5 * history.validation[0]
    assert history.validation[-1] < float(np.mean((x - y) ** 2))  # beats repeating the noisy input


def test_lenet_learns_the_synthetic_classes() -> None:
    """examples/convolutional_mlp.py (20 and 50 5x5 filters, 500 tanh units), two epochs of
    minibatches of 20; the whole-test-set error, computed in chunks, is the minibatches' mean."""
    model = convolutional_mlp.build(DATASETS, "float64", batch_size=20)
    assert model.batches == (60, 30, 30)
    result = convolutional_mlp.train(model, n_epochs=2, quiet=True)
    assert result.epochs == 2 and len(result.curve.test) == 2
    assert result.final_test == pytest.approx(result.curve.test[-1], abs=1e-9)
    assert result.final_test < 40  # chance is 90%


@needs_fashion_mnist
def test_fashion_mnist_lenet_learns_on_a_tiny_subset() -> None:
    train_set, valid_set, test_set = load_mnist(None, dtype="float64")
    sizes = (1000, 500, 500)
    subsets = tuple((x[:n], y[:n]) for (x, y), n in zip((train_set, valid_set, test_set), sizes, strict=True))
    model = convolutional_mlp.build(subsets, "float64", batch_size=50)
    result = convolutional_mlp.train(model, n_epochs=1, quiet=True)
    assert result.final_test < 60  # chance is 90%


@needs_fashion_mnist
def test_fashion_mnist_lenet_command_line() -> None:
    """The script itself, on the first 500 images of each set: per-epoch errors, then the summary."""
    import re
    import subprocess

    script = Path(__file__).resolve().parents[1] / "examples" / "convolutional_mlp.py"
    arguments = ["--subset", "500", "--epochs", "1", "--batch-size", "50", "--quiet"]
    done = subprocess.run(
        [sys.executable, str(script), *arguments], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"^epoch 1, 10 minibatches, .* test error \d+\.\d\d%$", done.stdout, re.MULTILINE)
    final = re.search(r"test error at the end (\d+\.\d+)% \(all test images\)", done.stdout)
    assert final is not None and float(final.group(1)) < 80, done.stdout  # chance is 90%


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--subset", "100"], "--subset 100 is smaller than one minibatch (--batch-size 500)"),
        (["--learning-rate", "-1"], "--learning-rate must be positive"),
    ],
)
def test_lenet_options_are_checked_before_training(arguments: list[str], message: str) -> None:
    import subprocess

    script = Path(__file__).resolve().parents[1] / "examples" / "convolutional_mlp.py"
    done = subprocess.run(
        [sys.executable, str(script), *arguments], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
