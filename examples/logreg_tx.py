"""Train examples/logreg.tx from Python: the compiled artifact is loaded with tc.load (no compiler runs).

    tc compile examples/logreg.tx -o build/logreg
    python examples/logreg_tx.py build/logreg [--data mnist.pkl.gz] [--epochs 5]

The driver fills the artifact's shared data variables, calls its `train`
function once per minibatch index and reports the test error with `errors`.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from tqdm import tqdm

import tc
from tc.datasets import load_mnist

BATCH = 600  # the minibatch size written in logreg.tx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", help="the folder written by `tc compile examples/logreg.tx -o ...`")
    parser.add_argument("--data", default=None, help="mnist.pkl.gz or an IDX folder (default: Fashion-MNIST)")
    parser.add_argument(
        "--epochs", type=int, default=5, help="passes over the training set (default: %(default)s)"
    )
    args = parser.parse_args()
    if args.data is not None and not os.path.exists(args.data):
        parser.error(f"--data {args.data}: no such file or folder")

    try:
        model = tc.load(args.artifact)
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = load_mnist(args.data, dtype="float64")
    except tc.TcError as err:
        raise SystemExit(f"error: {err}") from None
    model.shared["data_x"].set_value(train_x)
    model.shared["data_y"].set_value(train_y.astype(np.int32))
    batches = len(train_y) // BATCH
    start = time.perf_counter()
    for epoch in tqdm(range(args.epochs), unit="epoch"):
        cost = np.mean([model.train(index) for index in range(batches)])
        error = 100 * float(model.errors(valid_x, valid_y.astype(np.int32)))
        tqdm.write(f"epoch {epoch + 1}: mean cost {cost:.4f}, validation error {error:.2f}%")
    seconds = time.perf_counter() - start
    test_error = 100 * float(model.errors(test_x, test_y.astype(np.int32)))
    print(f"logreg.tx: {args.epochs} epochs in {seconds:.1f} s, test error {test_error:.2f}%")


if __name__ == "__main__":
    main()
