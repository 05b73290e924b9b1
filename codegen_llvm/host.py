"""What native code is specific to: the host's triple, CPU name and features, as LLVM
names them. Asking LLVM means loading it (about 35 ms), which a warm start (code from the
compile cache) otherwise never does; so the description can be kept beside the cache,
under a fingerprint of the CPU read from the operating system (`cpu_fingerprint`)."""

from __future__ import annotations

import functools
import hashlib
import sys
from dataclasses import dataclass

from .elfcheck import machine_name


@dataclass(frozen=True)
class HostTarget:
    """What native code is specific to: the triple, the CPU name and its features."""

    triple: str
    cpu: str
    features: str  # LLVM's "+avx2,-avx512f,..." form

    def enabled_features(self) -> set[str]:
        return {f[1:] for f in self.features.split(",") if f.startswith("+")}


@functools.cache
def host_target() -> HostTarget:
    """The host as LLVM describes it (loads LLVM)."""
    import llvmlite.binding as llvm

    from .jit import host_target_machine

    tm = host_target_machine()  # also initialises LLVM's native target
    return HostTarget(tm.triple, llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten())


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
