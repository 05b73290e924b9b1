"""Tiered compilation (tc/tiering.py): quick code answers the first calls, optimised code
made in the background takes them over, with the same results and shared state."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import tc
import tc.codegen_llvm.jit as jit
from tc import tensor as T
from tc import tiering
from tc.codegen_llvm.dispatch import next_slot
from tc.codegen_llvm.reduce_walk import BLOCK

RNG = np.random.default_rng(20261202)


@pytest.fixture
def tiered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tc.config, "tiered", "always")
    tiering.wait_for_started()  # earlier tests' quick code, so that this test counts only its own
    tiering.skip_pending()
    yield tmp_path
    tc.finish_compiling()


def _train_step():  # type: ignore[no-untyped-def]
    """A small softmax regression step: products, a row softmax, a gather, updates."""
    rng = np.random.default_rng(3)
    W = tc.shared(rng.normal(size=(6, 4)) * 0.1, name="W")
    b = tc.shared(np.zeros(4), name="b")
    x, y = T.dmatrix("x"), T.lvector("y")
    p = T.nnet.softmax(T.dot(x, W) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gW, gb = T.grad(cost, [W, b])
    f = tc.function([x, y], cost, updates=[(W, W - 0.5 * gW), (b, b - 0.5 * gb)])
    return f, W, b


def _reference(steps: int, x: np.ndarray, y: np.ndarray) -> tuple[list[float], np.ndarray]:
    W = np.random.default_rng(3).normal(size=(6, 4)) * 0.1
    b = np.zeros(4)
    costs = []
    for _ in range(steps):
        z = x @ W + b
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        costs.append(-np.mean(np.log(p[np.arange(len(y)), y])))
        d = p.copy()
        d[np.arange(len(y)), y] -= 1
        d /= len(y)
        W, b = W - 0.5 * x.T @ d, b - 0.5 * d.sum(axis=0)
    return costs, W


def _code(f):  # type: ignore[no-untyped-def]
    return f._code_owner  # the NativeModule the function calls into


def test_quick_code_hands_over_to_optimised_code_mid_training(tiered: Path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 6)), rng.integers(0, 4, 12)
    before = jit.compile_count
    f, W, _ = _train_step()
    code = _code(f)
    costs = [float(f(x, y))]  # at least one call in quick code, whatever the worker's pace
    while code.successor is None and len(costs) < 10_000:
        costs.append(float(f(x, y)))
    tc.finish_compiling()
    assert code.successor is not None and jit.compile_count == before + 2  # quick, then optimised
    entry = code.entry_points["f"].symbol.removesuffix(".dispatch")
    slot = code.engine.get_global_value_address(next_slot(entry))
    assert slot and ctypes.c_void_p.from_address(slot).value == code.successor.addresses["f"]
    costs += [float(f(x, y)) for _ in range(3)]
    expected, W_expected = _reference(len(costs), x, y)
    np.testing.assert_allclose(costs, expected, rtol=1e-12)
    np.testing.assert_allclose(W.get_value(), W_expected, rtol=1e-12)


def test_a_graph_compiled_again_before_its_code_is_optimised_reuses_its_quick_code(tiered: Path) -> None:
    """object_cache._QUICK_MADE: the same graph compiled again in the process while its quick
    code waits to be optimised loads that code again (no lowering, no LLVM), and its
    optimisation loads what the first one's cached; once that is cached, a compile finds it."""
    x = T.dvector("x")
    y = T.tanh(x) * 3 + T.exp(-x)
    before = jit.compile_count
    f, g = tc.function([x], y), tc.function([x], y)
    assert jit.compile_count == before + 1 and _code(f) is not _code(g)
    values = np.linspace(-1, 1, 7)
    assert f(values).tobytes() == g(values).tobytes()
    tc.finish_compiling()
    optimised = jit.compile_count  # one O3: the second module's job loaded the first one's result
    assert optimised == before + 2 and _code(f).successor is not None and _code(g).successor is not None
    h = tc.function([x], y)
    assert jit.compile_count == optimised and _code(h).successor is None  # the cache's optimised code
    assert h(values).tobytes() == f(values).tobytes()


def test_the_optimised_code_fills_the_cache(tiered: Path) -> None:
    f, _, _ = _train_step()
    assert "define" in f.dump("llvm")
    optimized = f.dump("llvm-opt")  # waits for the worker
    assert "define" in optimized and f.dump("asm")
    tc.finish_compiling()
    before = jit.compile_count
    again, _, _ = _train_step()
    assert jit.compile_count == before  # loaded from the cache: no quick code, no LLVM
    assert _code(again).successor is None and again.dump("llvm-opt") == optimized


def test_calls_from_other_threads_during_the_handover(tiered: Path) -> None:
    x = T.dvector("x")
    f = tc.function([x], T.tanh(x) * 2 + T.exp(-x) * T.sum(x**2))
    data = np.linspace(-1, 1, 1001)
    expected = np.tanh(data) * 2 + np.exp(-data) * (data**2).sum()
    failures: list[str] = []

    def calls() -> None:
        for _ in range(200):
            if not np.allclose(f(data), expected, rtol=1e-13):
                failures.append("wrong result")

    threads = [threading.Thread(target=calls) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tc.finish_compiling()
    assert not failures and _code(f).successor is not None
    np.testing.assert_allclose(f(data), expected, rtol=1e-13)


def test_optimising_waits_for_calls_that_pay_for_it(tiered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 6)), rng.integers(0, 4, 12)
    monkeypatch.setattr(tiering, "OPTIMISE_AFTER_SECONDS", 1e9)  # count calls only
    before = jit.compile_count
    f, _, _ = _train_step()
    for _ in range(tiering.OPTIMISE_AFTER_CALLS - 1):
        f(x, y)
    tiering._wait_for_worker()
    assert jit.compile_count == before + 1 and _code(f).successor is None  # quick code only
    f(x, y)  # the call that starts the optimisation
    tiering._wait_for_worker()
    assert jit.compile_count == before + 2 and _code(f).successor is not None

    monkeypatch.setattr(tiering, "OPTIMISE_AFTER_SECONDS", 0.0)  # calls that took long enough
    z = T.dvector("z")
    g = tc.function([z], T.tanh(z) * 3)
    g(np.ones(3))
    tiering._wait_for_worker()
    assert _code(g).successor is not None  # its first call took more than no time
    np.testing.assert_allclose(g(np.ones(3)), np.tanh(np.ones(3)) * 3, rtol=1e-15)


def test_functions_called_once_are_left_quick_until_asked(tiered: Path) -> None:
    z = T.dvector("z")
    f = tc.function([z], T.exp(z) - 1)
    assert f(np.zeros(2)).tolist() == [0.0, 0.0]
    tiering._wait_for_worker()
    assert _code(f).successor is None
    assert "define" in f.dump("llvm-opt")  # asking for the optimised text starts it
    assert _code(f).successor is not None
    g = tc.function([z], T.exp(z) - 2)
    before = jit.compile_count
    tc.finish_compiling()  # starts every quick module still in use
    assert jit.compile_count == before + 1 and _code(g).successor is not None


def test_modules_are_optimised_at_once_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    x = T.dvector("x")
    # "library" tiers no module's own code; "large" not one this short.
    for index, mode in enumerate(("never", "library", "large")):
        monkeypatch.setattr(tc.config, "tiered", mode)
        before = jit.compile_count
        f = tc.function([x], T.sin(x) + index)  # a graph of its own: no cache hit
        assert jit.compile_count == before + 1 and _code(f).successor is None
        assert f([0.0]).tolist() == [float(index)]


def test_a_call_with_large_arrays_waits_for_the_optimised_code(
    tiered: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiering, "OPTIMISE_FIRST_AT", 1000)  # (read when the function is made)
    x = T.dvector("x")
    f = tc.function([x], T.exp(x) * 3)
    before = jit.compile_count
    assert f(np.zeros(999)).tolist() == [3.0] * 999  # small: quick code answers
    assert _code(f).successor is None and jit.compile_count == before
    np.testing.assert_allclose(f(np.ones(1000)), np.full(1000, 3 * np.e), rtol=1e-15)
    assert _code(f).successor is not None and jit.compile_count == before + 1  # optimised first


def test_profiled_code_is_never_quick(tiered: Path) -> None:
    x = T.dvector("x")
    f = tc.function([x], T.cos(x) * 2, profile=True)
    assert _code(f).successor is None and not _code(f).entry_points["f"].symbol.endswith(".dispatch")
    assert f([0.0]).tolist() == [2.0]


def test_the_setting_is_checked() -> None:
    with pytest.raises(tc.TcError, match="config.tiered must be one of"):
        tc.config.tiered = "sometimes"


def test_a_failed_optimisation_keeps_the_quick_code(tiered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tc.codegen_llvm import objectcode

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no optimiser today")

    monkeypatch.setattr(objectcode, "optimized_object", broken)
    x = T.dvector("x")
    f = tc.function([x], T.exp(x) - 1)
    with pytest.warns(UserWarning, match="no optimiser today"):
        tc.finish_compiling()
    assert _code(f).successor is None
    np.testing.assert_allclose(f([0.0, 1.0]), np.expm1([0.0, 1.0]), rtol=1e-15)
    with pytest.raises(RuntimeError, match="no optimiser today"):
        f.dump("llvm-opt")
    assert not list(tiered.rglob("*.tcobj"))  # nothing cached: the next process compiles again


@pytest.fixture
def tiering_setting(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(tc.config, "tiered", tc.config.tiered)
    yield


def _compiled_at(opt_level: int, inputs: list, outputs: list):  # type: ignore[no-untyped-def]
    from tc.callables import StageTexts, make_functions
    from tc.compile import optimize
    from tc.frontend.lower import build_function
    from tc.object_cache import native_code

    tc.config.tiered = "never"  # opt_level 3 made at once, not quick first (the fixture restores it)
    module = build_function("f", inputs, outputs).module
    optimized = optimize(module)
    native = native_code(optimized.module, optimized.texts["tir-opt"], opt_level=opt_level)
    stages = StageTexts(optimized.texts)
    return make_functions(optimized.module, native, optimized.plans, stages, {"f": False})["f"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sums_are_the_same_bits_unoptimised_and_optimised(dtype: str, tiering_setting: None) -> None:
    """A block's float sums and products are taken in explicit lanes (reduce_block.py), so
    their order is the IR's, not the vectoriser's: quick code (unoptimised) gives the bits
    the optimised code gives, and a hand-over changes no result."""
    x, m = T.vector("x", dtype=dtype), T.matrix("m", dtype=dtype)
    outputs = [
        T.sum(x),
        T.mean(T.exp(x) * 2),
        T.prod(x[:40] + 0.5),
        m.sum(axis=1),
        m.sum(axis=0),
        T.nnet.softmax(m),
        T.max(x) + T.sum(x * x),
    ]
    quick, optimised = (_compiled_at(level, [x, m], outputs) for level in (0, 3))
    for n in (1, 10, 63, 64, 65, BLOCK - 1, BLOCK + 1, 5 * BLOCK + 37):
        args = [RNG.normal(size=n).astype(dtype), RNG.normal(size=(7, n)).astype(dtype)]
        for got, want in zip(quick(*args), optimised(*args), strict=True):
            assert got.tobytes() == want.tobytes(), n


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_train_step_is_the_same_bits_unoptimised_and_optimised(dtype: str, tiering_setting: None) -> None:
    """A softmax regression's cost and gradients (products, softmax, log, mean, column
    sums of the gradient), quick and optimised, on minibatches of several sizes."""
    x, y = T.matrix("x", dtype=dtype), T.lvector("y")
    W, b = T.matrix("W", dtype=dtype), T.vector("b", dtype=dtype)
    p = T.nnet.softmax(T.dot(x, W) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y]) + 1e-4 * (W**2).sum()
    outputs = [cost, *T.grad(cost, [W, b])]
    quick, optimised = (_compiled_at(level, [x, y, W, b], outputs) for level in (0, 3))
    weights = [RNG.normal(size=(100, 10)).astype(dtype), RNG.normal(size=10).astype(dtype)]
    for rows in (1, 20, 600):
        args = [RNG.normal(size=(rows, 100)).astype(dtype), RNG.integers(0, 10, rows), *weights]
        for got, want in zip(quick(*args), optimised(*args), strict=True):
            assert got.tobytes() == want.tobytes(), rows


_PROCESS = """
import sys
import numpy as np
import tc, tc.tensor as T
from tc import tiering
x = T.dvector("x")
f = tc.function([x], T.tanh(x) * 3 + 1)
values = np.linspace(-1, 1, 7)
for _ in range(int(sys.argv[1])):
    assert np.allclose(f(values), np.tanh(values) * 3 + 1)
assert "define" in f.dump("llvm")
tiering.wait_for_started()
"""


def _run_process(cache: Path, calls: int, tiered: str = "always") -> str:
    """_PROCESS in a new process over the compile cache `cache`, with compiles logged: its
    stderr."""
    env = dict(os.environ, TC_CACHE_DIR=str(cache), TC_LOG_COMPILES="1", TC_TIERED=tiered)
    done = subprocess.run(
        [sys.executable, "-c", _PROCESS, str(calls)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_the_end_of_a_process_caches_quick_code_which_the_next_optimises_once_called_enough(
    tmp_path: Path,
) -> None:
    """tiering._at_exit: a module whose optimisation never started is cached as quick code
    (the process ends at once, not after O3); the next process loads that quick code, and
    its calls, once they pay, make the optimised code, which the one after loads."""
    assert "cache miss, quick code" in _run_process(tmp_path, 1)
    again = _run_process(tmp_path, 1)  # called once: parked quick code, left quick
    assert "quick code from the cache" in again and "cache hit" in again
    called = _run_process(tmp_path, tiering.OPTIMISE_AFTER_CALLS + 2)  # optimised and cached
    assert "quick code from the cache" in called
    last = _run_process(tmp_path, 1)
    assert "cache hit" in last and "quick code" not in last


def test_parked_quick_code_is_not_taken_where_code_is_optimised_first(tmp_path: Path) -> None:
    assert "quick code" in _run_process(tmp_path, 1)  # parked at its end
    assert "cache miss" in _run_process(tmp_path, 1, "never")  # TC_TIERED=never: optimised first
    assert "quick code" not in _run_process(tmp_path, 1)  # which the next process loads
