"""tc/promise.py: a value made on one thread and waited for on another, kept once."""

from __future__ import annotations

import threading

import pytest

from tc.promise import Promise


def test_result_waits_for_the_thread_that_keeps_the_promise() -> None:
    promise: Promise[int] = Promise()
    release = threading.Event()

    def keep() -> None:
        release.wait()
        promise.set_result(42)

    maker = threading.Thread(target=keep)
    maker.start()
    assert not promise.done()
    release.set()
    assert promise.result() == 42 and promise.done()
    maker.join()


def test_an_exception_reaches_every_waiter_and_a_promise_is_kept_once() -> None:
    promise: Promise[int] = Promise()
    promise.set_exception(ValueError("no part"))
    for _ in range(2):
        with pytest.raises(ValueError, match="no part"):
            promise.result()
    with pytest.raises(RuntimeError, match="kept once"):
        promise.set_result(1)
