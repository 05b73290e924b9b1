"""tc/collector.py: Python's cycle collector paused while tc compiles, and restored after."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc import collector


@pytest.fixture(autouse=True)
def _collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_pause_nests_and_ends_with_the_last_block() -> None:
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_the_user_switched_off_stays_off() -> None:
    gc.disable()
    with collector.paused():
        pass
    assert not gc.isenabled()


def test_a_failing_block_restores_the_collector() -> None:
    with pytest.raises(ZeroDivisionError), collector.paused():
        _ = 1 / 0
    assert gc.isenabled()


def test_threads_share_the_pause() -> None:
    inside, release = threading.Event(), threading.Event()

    def compile_elsewhere() -> None:
        with collector.paused():
            inside.set()
            release.wait()

    other = threading.Thread(target=compile_elsewhere)
    other.start()
    inside.wait()
    with collector.paused():
        pass
    assert not gc.isenabled()  # the other thread's compilation still runs
    release.set()
    other.join()
    assert gc.isenabled()


def test_compiling_pauses_the_collector_and_restores_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import tc.compile

    enabled_inside = []
    optimize = tc.compile.optimize

    def observed(*args, **kwargs):
        enabled_inside.append(gc.isenabled())
        return optimize(*args, **kwargs)

    monkeypatch.setattr(tc.compile, "optimize", observed)
    x = T.dvector("x")
    f = tc.function([x], T.exp(x) + 1)
    assert enabled_inside == [False]
    assert gc.isenabled()
    assert f(np.zeros(3)).tolist() == [2.0, 2.0, 2.0]


def test_a_failing_compile_restores_the_collector() -> None:
    x = T.dvector("x")
    with pytest.raises(tc.TcError):
        tc.function([x], x + 1, updates=[(x, x)])  # not a shared variable
    assert gc.isenabled()
