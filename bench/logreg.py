"""Logistic regression 784 -> 10 (deeplearning.net's logistic_sgd) trained by tc, numpy, PyTensor and JAX.

    python bench/logreg.py [--quick] [--dtype float32|float64|both] [--epochs N] [--data PATH]
    python bench/logreg.py --accuracy      # 5 epochs, float64, file order: test error of each

Zero-initialised W and b, p = softmax(x @ W + b), mean negative log-likelihood,
SGD with learning rate 0.13 on minibatches of 600 taken from shared variables
through `givens`. Prints seconds per epoch (the column "vs tc" is each
implementation's time divided by tc's: above 1, tc is faster) and the time to
build and compile the train function (also cold: a fresh process with an empty
compile cache, for PyTensor and for tc as it is, `tc (cold)`, and with everything
optimised before the first call, `tc-never (cold)`: TC_TIERED=never).
The data is Fashion-MNIST from Debian's `dataset-fashion-mnist` unless --data
names mnist.pkl.gz or an IDX folder.
Reference: numpy, PyTensor and JAX all reach 18.59% test error on
Fashion-MNIST after 5 epochs in float64.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from train_models import main  # noqa: E402

if __name__ == "__main__":
    main("logreg", __doc__)
