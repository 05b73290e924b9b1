"""Native code loaded into the process, as the runtime uses it: entry points, and the
globals it fills after loading (thread count, support library, BLAS, profile words).
Imports no LLVM: a warm start loads cached object code without it (loader.py)."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .symbols import BLAS_GLOBALS, GEMV_GLOBALS, LIBRARY_GLOBALS, THREADS_GLOBAL, EntryPoint, profile_global

# What holds loaded code: an MCJIT engine or elfload's LoadedImage, both with
# `get_global_value_address(name) -> int` (0 when absent). (A typing.Protocol here cost a
# warm start a millisecond to import.)
CodeHolder = Any


@dataclass
class NativeModule:
    """Loaded native code: entry points by function name, and each stage's text.

    `engine` is what holds the code (an MCJIT engine, or elfload's LoadedImage), with
    `get_global_value_address(name)`. The code lives as long as this object: either
    frees it when it is garbage, so whatever may call into the code holds this object,
    and nothing keeps it in a reference cycle.
    """

    entry_points: dict[str, EntryPoint]
    addresses: dict[str, int]
    stages: Mapping[str, str]  # read lazily for code from the compile cache
    compile_seconds: float
    engine: CodeHolder = field(repr=False)

    def set_num_threads(self, count: int) -> None:
        """How many threads large flat loops may use (1: stay on the calling thread)."""
        address = self.engine.get_global_value_address(THREADS_GLOBAL)
        if address:
            ctypes.c_int64.from_address(address).value = max(1, int(count))

    def set_library(self, addresses: Callable[[list[str]], dict[str, int]]) -> None:
        """Give the code the support library's functions it calls (support.py: the thread
        pool, the product kernels). `addresses(names)` is called only when it calls any."""
        slots = {name: self.engine.get_global_value_address(glob) for name, glob in LIBRARY_GLOBALS.items()}
        slots = {name: slot for name, slot in slots.items() if slot}
        if slots:
            library = addresses(list(slots))
            for name, slot in slots.items():
                ctypes.c_void_p.from_address(slot).value = library.get(name) or None

    def set_profile(self, function: str, words: int | None) -> None:
        """Where the profiled code of `function` records its ops' runs (codegen_llvm/profile.py):
        the address of the runtime's int64 words, or None to record nothing."""
        address = self.engine.get_global_value_address(profile_global(function))
        if address:
            ctypes.c_void_p.from_address(address).value = words

    def set_blas(self, routines: Callable[[], dict[str, int]]) -> None:
        """Give the code the addresses of BLAS routines (by global name, see linalg.py).
        `routines` is called only when the code has a product: finding BLAS imports scipy."""
        names = [*BLAS_GLOBALS.values(), *GEMV_GLOBALS.values()]
        slots = {name: self.engine.get_global_value_address(name) for name in names}
        slots = {name: slot for name, slot in slots.items() if slot}
        if not slots:
            return
        for name, address in routines().items():
            if name in slots:
                ctypes.c_void_p.from_address(slots[name]).value = address

    def cfunction(self, name: str) -> ctypes._CFuncPtr:
        """A ctypes function over entry point `name`, valid while this module lives: the
        caller keeps the module (CompiledFunction's `code_owner`). Not an attribute of
        the ctypes object, which `ctypes.cast` puts in a reference cycle."""
        proto = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p)
        return proto(self.addresses[name])


def default_num_threads() -> int:
    """TC_NUM_THREADS if set, else the cores this process may run on."""
    configured = os.environ.get("TC_NUM_THREADS")
    if configured:
        return max(1, int(configured))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
