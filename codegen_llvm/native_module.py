"""Native code loaded into the process, as the runtime uses it: entry points, and the
globals it fills after loading (thread count, support library, BLAS, profile words).
Imports no LLVM: a warm start loads cached object code without it (loader.py)."""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .symbols import BLAS_GLOBALS, GEMV_GLOBALS, LIBRARY_GLOBALS, THREADS_GLOBAL, EntryPoint, profile_global

# What holds loaded code: an MCJIT engine or elfload's LoadedImage, both with
# `get_global_value_address(name) -> int` (0 when absent). (A typing.Protocol here cost a
# warm start a millisecond to import.)
CodeHolder = Any


class NativeModule:
    """Loaded native code: entry points by function name, and each stage's text.

    `engine` is what holds the code (an MCJIT engine, or elfload's LoadedImage), with
    `get_global_value_address(name)`. The code lives as long as this object: either
    frees it when it is garbage, so whatever may call into the code holds this object,
    and nothing keeps it in a reference cycle. Compared and hashed by identity
    (tc/library_parts.py keeps a WeakSet). A plain class: as a dataclass, defining it cost
    every warm start half a millisecond.
    """

    def __init__(
        self,
        entry_points: dict[str, EntryPoint],
        addresses: dict[str, int],
        stages: Mapping[str, str],  # read lazily for code from the compile cache
        compile_seconds: float,
        engine: CodeHolder,
    ) -> None:
        self.entry_points, self.addresses, self.stages = entry_points, addresses, stages
        self.compile_seconds, self.engine = compile_seconds, engine
        # Every global the runtime has written (name -> its C type and value), so that code
        # replacing this module's (`adopt`) is given the same.
        self.written: dict[str, tuple[type[Any], int | None]] = {}
        self.successor: NativeModule | None = None
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        return f"NativeModule(entry_points={self.entry_points!r}, compile_seconds={self.compile_seconds:.3f})"

    def write_global(self, name: str, kind: type[Any], value: int | None) -> None:
        """Set the global `name` (of C type `kind`) of this code, and of its successor's,
        if it has one and the global."""
        with self.lock:
            self.written[name] = (kind, value)
            for module in (self, self.successor):
                address = module.engine.get_global_value_address(name) if module is not None else 0
                if address:
                    kind.from_address(address).value = value

    def adopt(self, successor: NativeModule, slots: Mapping[str, str]) -> None:
        """Hand this code's calls to `successor` (the same functions, optimised): give it every
        global written here, then write each entry point's address into its slot here,
        `slots` naming, for each function, the global its dispatch stub jumps through
        (codegen_llvm/dispatch.py). `successor` lives as long as this module."""
        with self.lock:
            self.successor = successor
            for name, (kind, value) in self.written.items():
                address = successor.engine.get_global_value_address(name)
                if address:
                    kind.from_address(address).value = value
            for function, slot in slots.items():
                address = self.engine.get_global_value_address(slot)
                if address:  # after the globals: a call through the slot finds them set
                    ctypes.c_void_p.from_address(address).value = successor.addresses[function]

    def rewrite_globals(self, moved: Mapping[int, int]) -> None:
        """Write `moved[value]` over every pointer global written here holding a `value` in
        `moved` (the support library's quick code replaced by its optimised code)."""
        with self.lock:
            rewrites = [(name, kind, value) for name, (kind, value) in self.written.items()]
        for name, kind, value in rewrites:
            if kind is ctypes.c_void_p and value in moved:
                self.write_global(name, kind, moved[value])

    def has_global(self, name: str) -> bool:
        return bool(self.engine.get_global_value_address(name))

    def set_num_threads(self, count: int) -> None:
        """How many threads large flat loops may use (1: stay on the calling thread)."""
        self.write_global(THREADS_GLOBAL, ctypes.c_int64, max(1, int(count)))

    def set_library(self, addresses: Callable[[list[str]], dict[str, int]]) -> None:
        """Give the code the support library's functions it calls (support.py: the thread
        pool, the product kernels). `addresses(names)` is called only when it calls any."""
        slots = [name for name, glob in LIBRARY_GLOBALS.items() if self.has_global(glob)]
        if slots:
            library = addresses(slots)
            for name in slots:
                self.write_global(LIBRARY_GLOBALS[name], ctypes.c_void_p, library.get(name) or None)

    def set_profile(self, function: str, words: int | None) -> None:
        """Where the profiled code of `function` records its ops' runs (codegen_llvm/profile.py):
        the address of the runtime's int64 words, or None to record nothing."""
        self.write_global(profile_global(function), ctypes.c_void_p, words)

    def set_blas(self, routines: Callable[[], dict[str, int]]) -> None:
        """Give the code the addresses of BLAS routines (by global name, see linalg.py).
        `routines` is called only when the code has a product: finding BLAS imports scipy."""
        names = [*BLAS_GLOBALS.values(), *GEMV_GLOBALS.values()]
        slots = [name for name in names if self.has_global(name)]
        if not slots:
            return
        for name, address in routines().items():
            if name in slots:
                self.write_global(name, ctypes.c_void_p, address)

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
