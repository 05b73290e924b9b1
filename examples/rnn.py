"""An Elman recurrent network trained by minibatch SGD through `tc.scan`: predict a noisy sine's next value.

    python examples/rnn.py                       # 10 epochs, hidden 48, a few seconds
    python examples/rnn.py --epochs 30 --hidden 64 --dtype float32

The data are synthetic, so nothing is downloaded: each sequence is a sine
wave of its own random frequency and phase plus Gaussian noise, and at every
step the network sees the noisy value and predicts the next clean one. It
has to infer the frequency from what it has seen, which is what the hidden
state is for. The model is the core of deeplearning.net's rnnslu (Elman):

    h_t = tanh(x_t W_x + h_{t-1} W_h + b_h),    y_t = h_t W_y + b_y

scanned over time, with the mean squared error over every step as the cost
and its gradient by `T.grad` through the scan (backpropagation through time).
Like the other examples, the data sit in shared variables (time-major,
(steps, sequences, 1)) and each minibatch is chosen through `givens`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

import tc
from tc import tensor as T


def sine_data(
    n_sequences: int, steps: int, noise: float, seed: int, dtype: str
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (steps, n, 1): noisy sine values; targets (steps, n, 1): the next clean value."""
    rng = np.random.default_rng(seed)
    frequency = rng.uniform(0.1, 0.4, size=n_sequences)
    phase = rng.uniform(0, 2 * np.pi, size=n_sequences)
    t = np.arange(steps + 1)[:, None]
    clean = np.sin(frequency * t + phase)
    noisy = clean[:-1] + noise * rng.standard_normal((steps, n_sequences))
    return noisy[:, :, None].astype(dtype), clean[1:, :, None].astype(dtype)


class ElmanRNN:
    """The recurrent layer (uniform in +-sqrt(1 / fan_in)) and a linear readout starting at zero,
    as the tutorials' output layers do; `params` are what SGD trains."""

    def __init__(self, rng: np.random.RandomState, n_in: int, n_hidden: int, n_out: int, dtype: str) -> None:
        def uniform(shape: tuple[int, ...], fan_in: int, name: str) -> tc.SharedVariable:
            bound = np.sqrt(1.0 / fan_in)
            return tc.shared(rng.uniform(-bound, bound, size=shape).astype(dtype), name=name, borrow=True)

        self.W_x = uniform((n_in, n_hidden), n_in, "W_x")
        self.W_h = uniform((n_hidden, n_hidden), n_hidden, "W_h")
        self.b_h = tc.shared(np.zeros(n_hidden, dtype=dtype), name="b_h", borrow=True)
        self.W_y = tc.shared(np.zeros((n_hidden, n_out), dtype=dtype), name="W_y", borrow=True)
        self.b_y = tc.shared(np.zeros(n_out, dtype=dtype), name="b_y", borrow=True)
        self.params = [self.W_x, self.W_h, self.b_h, self.W_y, self.b_y]
        self.n_hidden, self.dtype = n_hidden, dtype

    def __call__(self, x: T.TensorVariable) -> T.TensorVariable:
        """Predictions (steps, batch, n_out) for inputs x (steps, batch, n_in)."""

        def step(x_t, h_tm1):  # type: ignore[no-untyped-def]
            h_t = T.tanh(T.dot(x_t, self.W_x) + T.dot(h_tm1, self.W_h) + self.b_h)
            y_t = T.dot(h_t, self.W_y) + self.b_y
            return [h_t, y_t]

        h0 = T.zeros((x.shape[1], self.n_hidden), dtype=self.dtype)
        [_, y], _ = tc.scan(step, sequences=x, outputs_info=[h0, None])
        return y


@dataclass
class Model:
    train: object  # train(minibatch index) -> that minibatch's cost, after one SGD step
    validate: object  # validate() -> mean squared error over the validation sequences
    batches: int
    rnn: ElmanRNN


def build(  # type: ignore[no-untyped-def]
    train_set, valid_set, n_hidden: int, learning_rate: float, batch_size: int, dtype: str, seed: int = 1234
) -> Model:
    train_x, train_y = (tc.shared(a, borrow=True) for a in train_set)
    valid_x, valid_y = (tc.shared(a, borrow=True) for a in valid_set)
    x, y = T.tensor3("x", dtype=dtype), T.tensor3("y", dtype=dtype)
    index = T.lscalar("index")
    rnn = ElmanRNN(np.random.RandomState(seed), 1, n_hidden, 1, dtype)
    cost = T.mean((rnn(x) - y) ** 2)
    grads = T.grad(cost, rnn.params)
    updates = [(p, p - learning_rate * g) for p, g in zip(rnn.params, grads, strict=True)]
    window = slice(index * batch_size, (index + 1) * batch_size)
    train = tc.function([index], cost, updates=updates, givens={x: train_x[:, window], y: train_y[:, window]})
    validate = tc.function([], cost, givens={x: valid_x, y: valid_y})
    return Model(train, validate, train_set[0].shape[1] // batch_size, rnn)


@dataclass
class History:
    train: list[float] = field(default_factory=list)  # mean minibatch cost of each epoch
    validation: list[float] = field(default_factory=list)  # before training, then after each epoch
    seconds: float = 0.0


def train(model: Model, n_epochs: int, quiet: bool = False) -> History:
    history = History(validation=[float(model.validate())])  # type: ignore[operator]
    start = time.perf_counter()
    progress = tqdm(total=n_epochs * model.batches, disable=quiet, unit="batch", leave=False)
    for _ in range(n_epochs):
        costs = []
        for minibatch in range(model.batches):
            costs.append(float(model.train(minibatch)))  # type: ignore[operator]
            progress.update()
        history.train.append(float(np.mean(costs)))
        history.validation.append(float(model.validate()))  # type: ignore[operator]
        progress.set_postfix(cost=f"{history.train[-1]:.4f}", valid=f"{history.validation[-1]:.4f}")
        if not quiet:
            progress.write(
                f"epoch {len(history.train):3d}: training MSE {history.train[-1]:.5f}, "
                f"validation MSE {history.validation[-1]:.5f}"
            )
    progress.close()
    history.seconds = time.perf_counter() - start
    return history


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="default: %(default)s")
    parser.add_argument("--hidden", type=int, default=48, help="hidden units (default: %(default)s)")
    parser.add_argument(
        "--steps", type=int, default=50, help="time steps per sequence (default: %(default)s)"
    )
    parser.add_argument(
        "--sequences", type=int, default=1024, help="training sequences (default: %(default)s)"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="default: %(default)s")
    parser.add_argument("--learning-rate", type=float, default=0.2, help="default: %(default)s")
    parser.add_argument(
        "--noise", type=float, default=0.2, help="noise's standard deviation (default: %(default)s)"
    )
    parser.add_argument(
        "--dtype", choices=("float32", "float64"), default="float32", help="default: %(default)s"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    args = parser.parse_args()
    for name in ("epochs", "hidden", "steps", "sequences", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, found {getattr(args, name)}")
    if args.batch_size > args.sequences:
        parser.error(f"--batch-size ({args.batch_size}) is larger than --sequences ({args.sequences})")
    return args


def main() -> None:
    args = parse_arguments()
    train_set = sine_data(args.sequences, args.steps, args.noise, 1, args.dtype)
    valid_set = sine_data(256, args.steps, args.noise, 2, args.dtype)
    model = build(train_set, valid_set, args.hidden, args.learning_rate, args.batch_size, args.dtype)
    history = train(model, args.epochs, args.quiet)
    repeat_input = float(np.mean((valid_set[0] - valid_set[1]) ** 2))
    print(
        f"Elman RNN 1-{args.hidden}-1 ({args.dtype}), {args.epochs} epochs in {history.seconds:.1f} s: "
        f"validation MSE {history.validation[0]:.4f} -> {history.validation[-1]:.4f} "
        f"(repeating the noisy input: {repeat_input:.4f}; predicting 0: {np.mean(valid_set[1] ** 2):.4f})"
    )


if __name__ == "__main__":
    main()
