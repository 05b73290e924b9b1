"""Where the host time of a GPU train step goes: cProfile of 200 logistic-regression steps
(784 -> 10, batch 512, float32) on the GPU, top entries by own time. Run on a GPU machine."""

from __future__ import annotations

import cProfile
import pstats
import time

import numpy as np

import tc
from tc import tensor as T


def main() -> None:
    x, y = T.fmatrix("x"), T.ivector("y")
    w = tc.shared(np.zeros((784, 10), np.float32), "W", device="cuda")
    b = tc.shared(np.zeros(10, np.float32), "b", device="cuda")
    p = T.nnet.softmax(T.dot(x, w) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gw, gb = T.grad(cost, [w, b])
    train = tc.function([x, y], cost, updates=[(w, w - 0.13 * gw), (b, b - 0.13 * gb)], device="cuda")
    train.outputs_on_device = True
    import cupy

    rng = np.random.default_rng(0)
    xs = cupy.asarray(rng.random((512, 784), np.float32))
    ys = cupy.asarray(rng.integers(0, 10, 512).astype(np.int32))
    for _ in range(20):
        train(xs, ys)
    cupy.cuda.runtime.deviceSynchronize()
    start = time.perf_counter()
    for _ in range(200):
        train(xs, ys)
    cupy.cuda.runtime.deviceSynchronize()
    per_step = (time.perf_counter() - start) / 200 * 1e3
    print(f"{per_step:.3f} ms per step, {len(train._program.instructions)} program steps")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(200):
        train(xs, ys)
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
