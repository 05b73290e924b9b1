"""The process's thread pool (codegen_llvm/thread_pool.py, in the support library): every
loaded module with a parallel loop shares it, concurrent callers and forked children get
right results."""

from __future__ import annotations

import ctypes
import multiprocessing
import threading

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.codegen_llvm.parallel import GRAIN
from tc.codegen_llvm.symbols import POOL_GLOBAL
from tc.codegen_llvm.target import host_target
from tc.codegen_llvm.thread_pool import supported
from tc.library_parts import support_library

SIZE = 8 * GRAIN  # several chunks per thread


def _kernel():  # type: ignore[no-untyped-def]
    x = T.dvector("x")
    return tc.function([x], T.tanh(x) * 2 + T.exp(-x))


def _want(x: np.ndarray) -> np.ndarray:
    return np.tanh(x) * 2 + np.exp(-x)


def _pool_slot(f) -> int:  # type: ignore[no-untyped-def]
    slot = f._code_owner.engine.get_global_value_address(POOL_GLOBAL)
    return ctypes.c_void_p.from_address(slot).value or 0


def test_modules_with_parallel_loops_share_one_pool() -> None:
    host = host_target().triple
    if not supported(host):
        pytest.skip("no thread pool on this platform")
    first, second = _kernel(), tc.function([y := T.fvector("y")], T.sin(y) + 1)
    assert _pool_slot(first) == _pool_slot(second) == support_library()["tc_pool_run"] != 0


def test_results_do_not_depend_on_the_thread_count() -> None:
    f = _kernel()
    x = np.linspace(-3, 3, SIZE)
    native = f._code_owner
    try:
        results = []
        for count in (1, 2, 3, 8):
            native.set_num_threads(count)
            results.append(f(x).tobytes())
    finally:
        native.set_num_threads(2)
    assert len(set(results)) == 1
    np.testing.assert_allclose(np.frombuffer(results[0]), _want(x), rtol=1e-13)


def test_python_threads_calling_at_once_get_their_own_results() -> None:
    f = _kernel()
    inputs = [np.linspace(-k, k, SIZE) for k in range(1, 7)]
    outputs: dict[int, np.ndarray] = {}

    def call(index: int) -> None:
        for _ in range(5):
            outputs[index] = f(inputs[index])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for index, x in enumerate(inputs):
        np.testing.assert_allclose(outputs[index], _want(x), rtol=1e-13)


def _child(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    x = np.linspace(-2, 2, SIZE)
    queue.put(float(np.abs(_CHILD_KERNEL[0](x) - _want(x)).max()))


_CHILD_KERNEL: list[object] = []


def test_a_forked_child_runs_parallel_loops() -> None:
    """The parent's workers are not in the child: it must start its own, not wait for them."""
    f = _kernel()
    f(np.linspace(-1, 1, SIZE))  # the parent's pool is running
    _CHILD_KERNEL[:] = [f]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) < 1e-12
