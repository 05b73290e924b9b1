"""A fingerprint of the host's CPU read from the operating system, which the compile cache
keys code by: asking LLVM for its description (objectcode.host_target) means loading LLVM
(about 35 ms), which a warm start (code from the compile cache) otherwise never does."""

from __future__ import annotations

import functools
import hashlib
import sys

from .elfcheck import machine_name

# The lines of /proc/cpuinfo that name the CPU and what it can do (not its clock).
_CPU_FIELDS = ("vendor_id", "cpu family", "model", "model name", "stepping", "flags", "Features", "CPU part")


@functools.cache
def cpu_fingerprint() -> str | None:
    """A hash of what the operating system says of the CPU, or None where it says nothing
    we read (then the description is always asked of LLVM)."""
    if sys.platform != "linux":
        return None
    kept = []
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break  # the first processor's block describes the others on the machines we know
                key = line.split(":", 1)[0].strip()
                if key in _CPU_FIELDS:
                    kept.append(line.strip())
    except OSError:
        return None
    if not any(line.startswith(("flags", "Features")) for line in kept):
        return None
    kept += [machine_name(), sys.platform]
    return hashlib.sha256("\n".join(kept).encode()).hexdigest()
