"""Keep freed memory in the process, so temporaries do not page-fault on every call.

A compiled function allocates its temporaries (and numpy its outputs) on each
call. glibc hands blocks above its mmap threshold straight back to the
kernel when they are freed, and trims the heap's top above its trim
threshold, so the next call's blocks of the same size arrive as fresh pages
that fault one by one: for a training step on a 784x500 layer that doubled
the step's time. Raising both thresholds once keeps those blocks for reuse,
as the allocators of JAX and PyTorch do. `TC_MALLOC_TUNING=0` leaves glibc's
defaults alone; elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 128 << 20  # free memory kept at the heap's top before it is returned
# Larger blocks still come from mmap: with 32 MiB, elementwise work on 32 MiB arrays
# beside numpy's own temporaries measured 3x slower (bench/elementwise.py).
MMAP_THRESHOLD = 16 << 20


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Raise glibc's thresholds once per process; True if they were set."""
    if os.environ.get("TC_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
