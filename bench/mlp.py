"""Multilayer perceptron 784-500-10 (deeplearning.net's mlp) trained by tc, numpy, PyTensor and JAX.

    python bench/mlp.py [--quick] [--dtype float32|float64|both] [--epochs N] [--data PATH]
    python bench/mlp.py --accuracy      # 5 epochs, float64, file order: test error of each

A tanh hidden layer of 500 units initialised uniform(+-sqrt(6 / (784 + 500)))
from numpy's RandomState(1234), a zero-initialised softmax output layer, cost =
mean negative log-likelihood + 0.00 * L1 + 0.0001 * L2_sqr, SGD with learning
rate 0.01 on minibatches of 20 taken through `givens`. Output as in
bench/logreg.py. Reference: a numpy version reached 15.7% test error on
Fashion-MNIST after 5 epochs in float64.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from train_models import main  # noqa: E402

if __name__ == "__main__":
    main("mlp", __doc__)
