"""Keep freed memory in the process, so temporaries do not page-fault on every call.

A compiled function allocates its temporaries (and numpy its outputs) on each
call. glibc hands blocks above its mmap threshold straight back to the
kernel when they are freed, and trims the heap's top above its trim
threshold, so the next call's blocks of the same size arrive as fresh pages
that fault one by one: for a training step on a 784x500 layer that doubled
the step's time. Raising both thresholds once keeps those blocks for reuse,
as the allocators of JAX and PyTorch do: the process may keep up to
TRIM_THRESHOLD of freed memory. `TC_MALLOC_TUNING=0` leaves glibc's
defaults alone; elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Free memory kept at the heap's top before it is returned. It must hold a call's
# temporaries: at 128 MiB, LeNet's train step (batch 500) gave its blocks back and faulted
# them in again on every call (81 ms a step; 68 ms at 512 MiB, measured 2026-11-30).
TRIM_THRESHOLD = 512 << 20
# Blocks below 256 MiB come from the heap (and are reused); larger ones from mmap. At 16 MiB
# the LeNet step's 23 MiB activations and the 32 MiB arrays of bench/elementwise.py came
# back as fresh pages each call (the activation 10.5 -> 4.1 ms at 64 MiB, numpy's own
# tanh 7.8 -> 5.4 ms in the same process). glibc maps a block whose size with its header
# reaches the threshold, so at 64 MiB an output of 2^24 float32 still did (that activation
# 9.9-11.1 -> 5.9-6.1 ms at 256 MiB, x * 1 5.6 -> 2.4-2.6 ms, 2026-12-02).
MMAP_THRESHOLD = 256 << 20


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Raise glibc's thresholds once per process; True if they were set."""
    if os.environ.get("TC_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.pythonapi["mallopt"]  # (the process's handle ctypes holds: glibc's)
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
