"""Where compile time goes: `TC_LOG_COMPILES=1` (or `tc.config.log_compiles = True`) prints,
for each compiled module, one line to stderr with the seconds of each stage:

    tc: compiled f in 0.742 s (cache miss): build 0.041, passes 0.120, shape plans 0.004,
        llvm-ir 0.030, llvm-o3 0.310, object 0.200, load 0.010, functions 0.020

`build` is the Python graph turned into IR, `passes` tc's pass pipeline, `llvm-ir` the
lowering to LLVM IR (with its parse and verification), `llvm-o3` LLVM's optimisation,
`object` the object code, `load` linking it into the process, `support library` the wait
for the support library's parts (made ahead on threads of their own, tc/library_parts.py),
`functions` the callables (and the scalar functions' direct entry points). A cache hit skips the LLVM stages.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tc.frontend.config import config

_local = threading.local()


def enabled() -> bool:
    return bool(config.log_compiles)


@contextmanager
def compiling(name: str) -> Iterator[None]:
    """Collect the stages timed inside; print them when the outermost block ends (if enabled)."""
    outer = getattr(_local, "log", None)
    if outer is not None:
        yield
        return
    log: dict[str, float] = {}
    _local.log, _local.notes = log, []
    started = time.perf_counter()
    try:
        yield
    finally:
        _local.log = None
        total = time.perf_counter() - started
        if enabled() and log:
            notes = f" ({', '.join(_local.notes)})" if _local.notes else ""
            parts = ", ".join(f"{stage} {seconds:.3f}" for stage, seconds in log.items())
            print(f"tc: compiled {name} in {total:.3f} s{notes}: {parts}", file=sys.stderr)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time one stage of the compilation in progress (nothing outside `compiling`)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        record(name, time.perf_counter() - started)


def record(name: str, seconds: float) -> None:
    log = getattr(_local, "log", None)
    if log is not None:
        log[name] = log.get(name, 0.0) + seconds


def note(text: str) -> None:
    """A remark shown after the total (e.g. whether the compile cache was hit)."""
    if getattr(_local, "log", None) is not None:
        _local.notes.append(text)
