"""A fingerprint of the host's CPU read from the operating system, which the compile cache
keys code by: asking LLVM for its description (objectcode.host_target) means loading LLVM
(about 35 ms), which a warm start (code from the compile cache) otherwise never does."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import sys

CPUINFO = "/proc/cpuinfo"
# The lines of /proc/cpuinfo that name the CPU and what it can do (not its clock).
_CPU_FIELDS = (
    b"vendor_id",
    b"cpu family",
    b"model",
    b"model name",
    b"stepping",
    b"flags",
    b"Features",
    b"CPU part",
)


@functools.cache
def cpu_fingerprint() -> str | None:
    """A hash of what the operating system says of the CPU, or None where it says nothing
    we read (then the description is always asked of LLVM). The first processor's block
    describes the others on the machines we know; it is read as bytes, in a few reads (the
    file's lines as text cost a warm start 0.05 ms)."""
    if sys.platform != "linux":
        return None
    try:
        block = _first_block(CPUINFO)
    except OSError:
        return None
    kept = [line.strip() for line in block.splitlines() if line.split(b":", 1)[0].strip() in _CPU_FIELDS]
    if not any(line.startswith((b"flags", b"Features")) for line in kept):
        return None
    kept += [machine_name().encode(), sys.platform.encode()]
    return hashlib.sha256(b"\n".join(kept)).hexdigest()


def _first_block(path: str) -> bytes:
    """The bytes of `path` up to its first empty line (or its end)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        data = b""
        while b"\n\n" not in data and (chunk := os.read(descriptor, 4096)):
            data += chunk
    finally:
        os.close(descriptor)
    return data.split(b"\n\n", 1)[0]


def machine_name() -> str:
    """The processor's name as the operating system gives it ("x86_64"); `os.uname` is
    cheap where it exists, the platform module costs a millisecond to import."""
    if hasattr(os, "uname"):
        return os.uname().machine
    import platform

    return platform.machine()


def process_symbol(name: str) -> int:
    """The address of `name` in the process (its libraries and libm, which MCJIT's lookup
    and elfload both search), or 0."""
    try:
        return int(ctypes.cast(global_symbols()[name], ctypes.c_void_p).value or 0)  # [] takes any name
    except AttributeError:
        return 0


@functools.cache
def global_symbols() -> ctypes.CDLL:
    """The process's global symbols, libm among them (sin, tanh, erf ...): ctypes' handle of
    the whole process, which it already holds (a CDLL of its own costs a class per load)."""
    names = {"linux": "libm.so.6", "darwin": "libm.dylib"}
    try:
        ctypes.CDLL(names.get(sys.platform, "libm.so.6"), mode=ctypes.RTLD_GLOBAL)
    except OSError:
        from ctypes.util import find_library  # it runs a program: only where the usual name fails

        found = find_library("m")
        if found:
            ctypes.CDLL(found, mode=ctypes.RTLD_GLOBAL)
    return ctypes.pythonapi
