"""The GPU path end to end without a GPU: tc.function's device programs with their kernels in
the host's grid emulator (device="emulated"), against the same functions on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T


def _train(device: str, hidden: int | None = None):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    x, y = T.fmatrix("x"), T.ivector("y")
    sizes = [(20, hidden), (hidden,), (hidden, 4), (4,)] if hidden else [(20, 4), (4,)]
    params = [tc.shared(rng.normal(0, 0.1, s).astype(np.float32), f"p{k}") for k, s in enumerate(sizes)]
    h = x
    for w, b in zip(params[::2], params[1::2], strict=True):
        h = T.dot(h, w) + b
        if w is not params[-2]:
            h = T.tanh(h)
    p = T.nnet.softmax(h)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    grads = T.grad(cost, params)
    updates = [(v, v - 0.5 * g) for v, g in zip(params, grads, strict=True)]
    return tc.function([x, y], cost, updates=updates, device=device), params


@pytest.mark.parametrize("hidden", [None, 8])
def test_training_steps_match_the_cpu(hidden: int | None) -> None:
    (cpu, cpu_params), (emulated, emulated_params) = _train("cpu", hidden), _train("emulated", hidden)
    rng = np.random.default_rng(1)
    xs, ys = rng.random((16, 20), np.float32), rng.integers(0, 4, 16).astype(np.int32)
    for _ in range(3):
        np.testing.assert_allclose(emulated(xs, ys), cpu(xs, ys), rtol=1e-5)
    for a, b in zip(emulated_params, cpu_params, strict=True):
        assert a.container.on_device
        np.testing.assert_allclose(a.get_value(), b.get_value(), rtol=1e-4, atol=1e-6)


def test_arguments_are_checked_as_on_the_cpu() -> None:
    x = T.fmatrix("x")
    f = tc.function([x], x * 2, device="emulated")
    with pytest.raises(tc.TcTypeError, match="takes 1 argument"):
        f()
    with pytest.raises(tc.TcTypeError):
        f(np.ones((2, 2), np.float64))
    with pytest.raises(tc.TcShapeError):
        tc.function([x], x + x.T, device="emulated")(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(f(x=np.ones((2, 2), np.float32)), np.full((2, 2), 2, np.float32))


def test_a_failed_call_changes_no_shared_variable() -> None:
    w = tc.shared(np.arange(5.0), "w")
    i = T.lvector("i")
    f = tc.function([i], T.sum(w[i]), updates=[(w, w * 2)], device="emulated")
    assert f(np.array([0, 4])) == 4.0
    np.testing.assert_array_equal(w.get_value(), np.arange(5.0) * 2)
    with pytest.raises(tc.TcIndexError, match="index 7 is out of bounds for axis 0 with size 5"):
        f(np.array([0, 7]))
    np.testing.assert_array_equal(w.get_value(), np.arange(5.0) * 2)


def test_shared_values_move_between_devices() -> None:
    w = tc.shared(np.ones(3), "w")
    double = tc.function([], [], updates=[(w, w * 2)], device="emulated")
    add = tc.function([], [], updates=[(w, w + 1)])
    double()
    assert w.container.on_device
    add()
    assert not w.container.on_device
    double()
    np.testing.assert_array_equal(w.get_value(), np.full(3, 6.0))
    w.set_value(np.zeros(3))
    np.testing.assert_array_equal(w.get_value(), np.zeros(3))


def test_scalar_state_and_slices_by_argument() -> None:
    data = tc.shared(np.arange(40.0).reshape(10, 4), "data")
    total = tc.shared(0.0, "total")
    index = T.lscalar("index")
    batch = data[index * 3 : (index + 1) * 3]
    f = tc.function([index], batch.sum(axis=0), updates=[(total, total + batch.sum())], device="emulated")
    np.testing.assert_array_equal(f(1), np.arange(40.0).reshape(10, 4)[3:6].sum(axis=0))
    f(2)
    assert total.get_value() == np.arange(40.0).reshape(10, 4)[3:9].sum()


def test_an_op_without_a_gpu_lowering_is_a_clear_error() -> None:
    x = T.lmatrix("x")
    with pytest.raises(tc.TcCompilationError, match="products of i64 run on the CPU only"):
        tc.function([x], T.dot(x, x), device="emulated")


def test_no_gpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from tc.runtime import cuda

    real_import = builtins.__import__

    def no_pycuda(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("pycuda"):
            raise ImportError("No module named 'pycuda'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_pycuda)
    cuda.cuda_context.cache_clear()
    x = T.fvector("x")
    with pytest.raises(tc.DeviceError, match="needs pycuda"):
        tc.function([x], x * 2, device="cuda")
    with pytest.raises(tc.DeviceError, match="needs pycuda"):
        tc.shared(np.zeros(3), device="cuda")
    cuda.cuda_context.cache_clear()


def test_value_dependent_sizes_copy_only_integer_scalars(monkeypatch: pytest.MonkeyPatch) -> None:
    """A size read from an index argument must not copy the (large) float data to the host."""
    from tc.codegen_ptx.launch import EmulatedDevice

    data = tc.shared(np.arange(400.0).reshape(100, 4), "data")
    index = T.lscalar("index")
    f = tc.function([index], data[index * 10 : (index + 1) * 10].sum(), device="emulated")
    copied: list[tuple[int, ...]] = []
    real = EmulatedDevice.download

    def recording(self: EmulatedDevice, array):  # type: ignore[no-untyped-def]
        copied.append(tuple(array.shape))
        return real(self, array)

    monkeypatch.setattr(EmulatedDevice, "download", recording)
    assert f(2) == np.arange(400.0).reshape(100, 4)[20:30].sum()
    assert (100, 4) not in copied
