"""The native entry of scalar functions with shared variables (codegen_llvm/pycall_state.py):
the same values and updates as the Python path, under set_value, borrowed read-only values,
copies, values on the (emulated) GPU and concurrent callers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.codegen_llvm import pycall
from tc.native_entry import NATIVE_ENTRY_AFTER_CALLS

pytestmark = pytest.mark.skipif(not pycall.supported(), reason="needs a regular CPython build")


def _tiered(fn, *args):  # type: ignore[no-untyped-def]
    """Call `fn` until its native entry is installed; the values it returned."""
    got = [fn(*args) for _ in range(NATIVE_ENTRY_AFTER_CALLS)]
    assert fn._entry is not None
    return got


def test_accumulator_counts_every_call_and_follows_set_value() -> None:
    state = tc.shared(0, "state")
    inc = T.iscalar("inc")
    acc = tc.function([inc], state, updates=[(state, state + inc)])
    seen = _tiered(acc, np.int32(1))
    assert [int(v) for v in seen] == list(range(NATIVE_ENTRY_AFTER_CALLS))
    before = acc.__call__(np.int32(2))  # the native entry itself
    assert before.dtype == np.int64 and before.shape == () and int(before) == NATIVE_ENTRY_AFTER_CALLS
    assert state.get_value() == NATIVE_ENTRY_AFTER_CALLS + 2
    state.set_value(100)  # a new array: the entry reads the buffer's current one
    assert int(acc(5)) == 100 and int(acc(np.int32(-5))) == 105 and state.get_value() == 100
    with pytest.raises(tc.TcTypeError):  # the general path's checks, through the entry
        acc(2**40)
    assert state.get_value() == 100


def test_several_buffers_updates_and_results() -> None:
    a, b = tc.shared(1.0, "a"), tc.shared(np.float32(2.0), "b")
    x = T.dscalar("x")
    f = tc.function([x], [a * x, b + 1], updates=[(a, a + x), (b, b * 2)])
    _tiered(f, 0.0)
    assert b.get_value() == 2.0 * 2**NATIVE_ENTRY_AFTER_CALLS
    b.set_value(np.float32(1.0))
    got = f(3.0)
    assert [g.dtype for g in got] == [np.float64, np.float32] and [float(g) for g in got] == [3.0, 2.0]
    assert a.get_value() == 4.0 and b.get_value() == 2.0


def test_borrowed_read_only_value_takes_the_python_path() -> None:
    state = tc.shared(0.0, "state")
    bump = tc.function([], state, updates=[(state, state + 1)])
    _tiered(bump)
    frozen = np.array(10.0)
    frozen.flags.writeable = False
    state.set_value(frozen, borrow=True)
    assert float(bump()) == 10.0 and state.get_value() == 11.0
    assert frozen == 10.0  # not written in place
    assert float(bump()) == 11.0 and state.get_value() == 12.0


def test_copies_keep_their_own_buffers_and_updates() -> None:
    state, other = tc.shared(0, "state"), tc.shared(50, "other")
    bump = tc.function([], state, updates=[(state, state + 1)])
    _tiered(bump)
    peek = bump.copy(delete_updates=True)
    swapped = bump.copy(swap={state: other})
    for _ in range(NATIVE_ENTRY_AFTER_CALLS + 2):
        assert int(peek()) == NATIVE_ENTRY_AFTER_CALLS
    assert peek._entry is not None  # its own entry, which drops the updates
    for k in range(NATIVE_ENTRY_AFTER_CALLS + 2):
        assert int(swapped()) == 50 + k
    assert (
        state.get_value() == NATIVE_ENTRY_AFTER_CALLS and other.get_value() == 52 + NATIVE_ENTRY_AFTER_CALLS
    )


def test_value_on_the_emulated_gpu_takes_the_python_path() -> None:
    state = tc.shared(0.0, "state")
    bump = tc.function([], state, updates=[(state, state + 1)])
    _tiered(bump)
    gpu_bump = tc.function([], state, updates=[(state, state + 10)], device="emulated")
    gpu_bump()  # the value moves to the device
    assert float(bump()) == NATIVE_ENTRY_AFTER_CALLS + 10
    assert state.get_value() == NATIVE_ENTRY_AFTER_CALLS + 11


def test_a_held_lock_sends_the_call_to_the_waiting_python_path() -> None:
    state = tc.shared(0, "state")
    bump = tc.function([], state, updates=[(state, state + 1)])
    _tiered(bump)
    buffer = bump._shared[0]
    done = threading.Event()
    with buffer.lock:  # held by this thread: the entry may re-enter it (an RLock)
        bump()
    buffer.lock.acquire()
    worker = threading.Thread(target=lambda: (bump(), done.set()))
    worker.start()
    assert not done.wait(0.2)  # waits for the lock instead of updating under it
    assert state.get_value() == NATIVE_ENTRY_AFTER_CALLS + 1
    buffer.lock.release()
    worker.join(5)
    assert done.is_set() and state.get_value() == NATIVE_ENTRY_AFTER_CALLS + 2


def test_concurrent_callers_lose_no_update() -> None:
    state = tc.shared(0, "state")
    inc = T.lscalar("inc")
    native = tc.function([inc], state, updates=[(state, state + inc)])
    _tiered(native, 0)
    python = native.copy()  # not tiered up yet: its calls take the Python paths
    calls = 2000

    def hammer(fn) -> None:  # type: ignore[no-untyped-def]
        for _ in range(calls):
            fn(1)

    threads = [threading.Thread(target=hammer, args=(fn,)) for fn in (native, python, native)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state.get_value() == 3 * calls
