"""tc on a real GPU (marked `cuda`: skipped, saying why, where there is none).

Each test compiles the same graph for the CPU and the GPU and compares them:
the CPU backend is tested against numpy everywhere else.
"""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T

pytestmark = pytest.mark.cuda


def both(inputs, outputs, **kwargs):  # type: ignore[no-untyped-def]
    return tc.function(inputs, outputs, **kwargs), tc.function(inputs, outputs, device="cuda", **kwargs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_seed_function_matches_the_cpu(dtype: str) -> None:
    x = T.vector("x", dtype=dtype)
    cpu, gpu = both([x], T.sin(x) ** 2 + T.cos(x) ** 2 + T.tanh(x) * T.exp(-x * x))
    value = np.random.default_rng(0).uniform(-10, 10, 100_003).astype(dtype)
    got = gpu(value)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, cpu(value), rtol=4 * np.finfo(dtype).eps, atol=4 * np.finfo(dtype).eps)


def test_broadcasting_and_scalar_arguments() -> None:
    x, r, s = T.fmatrix("x"), T.frow("r"), T.fscalar("s")
    c = T.fcol("c")
    cpu, gpu = both([x, r, c, s], [x * r + s, T.maximum(x, c), (x > s), x.T * 2])
    rng = np.random.default_rng(1)
    args = [
        rng.random((37, 41), np.float32),
        rng.random((1, 41), np.float32),
        rng.random((37, 1), np.float32),
        0.5,
    ]
    for a, b in zip(gpu(*args), cpu(*args), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("kind", ["sum", "max", "min", "mean", "argmax", "prod"])
def test_reductions(kind: str, axis: int | None) -> None:
    x = T.dmatrix("x")
    reduce = {"sum": T.sum, "max": T.max, "min": T.min, "mean": T.mean, "argmax": T.argmax, "prod": T.prod}[
        kind
    ]
    cpu, gpu = both([x], reduce(x, axis=axis))
    value = np.random.default_rng(2).uniform(0.995, 1.005, (300, 257))  # prod stays normal
    np.testing.assert_allclose(gpu(value), cpu(value), rtol=1e-10)


def test_large_sum() -> None:
    x = T.fvector("x")
    cpu, gpu = both([x], T.sum(x * 0.5))
    value = np.random.default_rng(3).random(1 << 24, np.float32)
    np.testing.assert_allclose(gpu(value), cpu(value), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_products(dtype: str) -> None:
    a, b, v = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype), T.vector("v", dtype=dtype)
    cpu, gpu = both([a, b, v], [T.dot(a, b), T.dot(a.T, a), T.dot(v, b), T.dot(b.T, v[: b.shape[0]])])
    rng = np.random.default_rng(4)
    args = [
        rng.random((130, 70)).astype(dtype),
        rng.random((70, 90)).astype(dtype),
        rng.random(130).astype(dtype),
    ]
    tolerance = 1e-4 if dtype == "float32" else 1e-12
    for got, want in zip(gpu(*args[:2], args[2][:70]), cpu(*args[:2], args[2][:70]), strict=True):
        np.testing.assert_allclose(got, want, rtol=tolerance)


def _logistic_regression(device: str):  # type: ignore[no-untyped-def]
    x, y = T.fmatrix("x"), T.ivector("y")
    w = tc.shared(np.zeros((784, 10), np.float32), "W", device=device)
    b = tc.shared(np.zeros(10, np.float32), "b", device=device)
    p = T.nnet.softmax(T.dot(x, w) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gw, gb = T.grad(cost, [w, b])
    train = tc.function([x, y], cost, updates=[(w, w - 0.13 * gw), (b, b - 0.13 * gb)], device=device)
    return train, w, b


def test_logistic_regression_training_matches_the_cpu() -> None:
    rng = np.random.default_rng(5)
    xs, ys = rng.random((512, 784), np.float32), rng.integers(0, 10, 512).astype(np.int32)
    (cpu, w_cpu, _), (gpu, w_gpu, b_gpu) = _logistic_regression("cpu"), _logistic_regression("cuda")
    for _ in range(5):
        np.testing.assert_allclose(gpu(xs, ys), cpu(xs, ys), rtol=1e-4)
    assert b_gpu.container.on_device  # the updates stayed on the GPU
    np.testing.assert_allclose(w_gpu.get_value(), w_cpu.get_value(), rtol=1e-3, atol=1e-6)


def test_mlp_training_matches_the_cpu() -> None:
    rng = np.random.default_rng(6)
    x, y = T.fmatrix("x"), T.ivector("y")
    init = [rng.normal(0, 0.05, s).astype(np.float32) for s in ((784, 500), (500,), (500, 10), (10,))]
    functions = []
    for device in ("cpu", "cuda"):
        w1, b1, w2, b2 = (
            tc.shared(v, n, device=device) for v, n in zip(init, ["W1", "b1", "W2", "b2"], strict=True)
        )
        h = T.tanh(T.dot(x, w1) + b1)
        p = T.nnet.softmax(T.dot(h, w2) + b2)
        cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y]) + 1e-4 * T.sum(w1**2)
        params = [w1, b1, w2, b2]
        grads = T.grad(cost, params)
        functions.append(
            tc.function(
                [x, y],
                cost,
                updates=[(p_, p_ - 0.01 * g) for p_, g in zip(params, grads, strict=True)],
                device=device,
            )
        )
    xs, ys = rng.random((512, 784), np.float32), rng.integers(0, 10, 512).astype(np.int32)
    for _ in range(3):
        np.testing.assert_allclose(functions[1](xs, ys), functions[0](xs, ys), rtol=1e-4)


def test_random_streams_match_the_cpu_bit_for_bit() -> None:
    from tc.random import RandomStreams

    draws = []
    for device in ("cpu", "cuda"):
        streams = RandomStreams(seed=1234)
        u = streams.uniform((1000, 3), dtype="float32")
        i = streams.random_integers((500,), 0, 1000)
        f = tc.function([], [u, i], device=device)
        draws.append([f(), f()])
    for (cpu_a, cpu_b), (gpu_a, gpu_b) in zip(draws[0], draws[1], strict=True):
        np.testing.assert_array_equal(gpu_a, cpu_a)
        np.testing.assert_array_equal(gpu_b, cpu_b)


def test_device_arrays_in_and_out() -> None:
    cupy = pytest.importorskip("cupy")
    x = T.fvector("x")
    f = tc.function([x], x * 2 + 1, device="cuda")
    value = cupy.arange(10, dtype=cupy.float32)
    np.testing.assert_array_equal(f(value), np.arange(10, dtype=np.float32) * 2 + 1)
    f.outputs_on_device = True
    out = cupy.asarray(f(value))
    np.testing.assert_array_equal(cupy.asnumpy(out), np.arange(10, dtype=np.float32) * 2 + 1)
    with pytest.raises(tc.TcTypeError, match="float64"):
        f(cupy.arange(10, dtype=cupy.float64))


def test_a_failed_call_changes_no_shared_variable() -> None:
    w = tc.shared(np.arange(5.0), "w", device="cuda")
    i = T.lvector("i")
    f = tc.function([i], T.sum(w[i]), updates=[(w, w * 2)], device="cuda")
    assert f(np.array([0, 4])) == 4.0
    np.testing.assert_array_equal(w.get_value(), np.arange(5.0) * 2)
    with pytest.raises(tc.TcIndexError, match="out of bounds"):
        f(np.array([0, 7]))
    np.testing.assert_array_equal(w.get_value(), np.arange(5.0) * 2)


def test_shared_values_move_between_devices() -> None:
    w = tc.shared(np.ones(3), "w")
    double = tc.function([], [], updates=[(w, w * 2)], device="cuda")
    add = tc.function([], [], updates=[(w, w + 1)])
    double()
    add()
    double()
    np.testing.assert_array_equal(w.get_value(), np.full(3, 6.0))


def test_cuda_artifact_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from tc.artifact import compile_artifact

    tutorial = Path(__file__).resolve().parents[2] / "examples" / "tutorial.tx"
    out = compile_artifact(tutorial, tmp_path / "gpu", target="cuda")
    module = tc.load(out)
    np.testing.assert_allclose(module.sin_identity(30.0), 1.0)
    module.accumulator(3)
    assert module.accumulator(4) == 3
