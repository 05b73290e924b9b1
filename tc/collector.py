"""Python's cycle collector, paused while a compilation runs.

A compile makes tens of thousands of short-lived objects (IR, LLVM IR instructions), and
the collector's passes over them, one of them over every object the process has, took 35-48 ms
of a 150-250 ms train-step compile (2-core AMD EPYC; a full collection alone 19-34 ms). With
the collector paused, that garbage is freed by reference counting or, for cycles, by the
collector's next ordinary pass after the compile: nothing is kept, only collected later.

The pause nests and is shared by threads: the collector is switched on again when the last
compilation ends, and only if it was on when the first began (a user's `gc.disable()` holds).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_paused = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """No cycle collection inside this block (on any thread) unless it was already off."""
    global _paused, _was_enabled
    with _LOCK:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _LOCK:
            _paused -= 1
            if _paused == 0 and _was_enabled:
                gc.enable()
