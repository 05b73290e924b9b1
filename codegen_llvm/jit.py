"""The host target and the LLVM half of the pipeline.

llvmlite.ir text -> parse -> verify -> O3 for the host CPU (`lower_and_optimize`);
objectcode.py turns the result into object code and loads it with MCJIT.
Every stage's text is kept (assembly is made from `llvm-opt` when first asked for),
so `f.dump("llvm-opt")` and `tc compile --emit asm`
show exactly what ran.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import llvmlite.binding as llvm
from llvmlite.binding.newpassmanagers import NewPassManager

from ..ir import Module, TcCompilationError
from ..ir.calling import calling_convention
from .symbols import BLAS_GLOBALS, GEMV_GLOBALS, LIBRARY_GLOBALS, THREADS_GLOBAL, EntryPoint, profile_global

LLVM_LOCK = threading.RLock()  # LLVM's pass managers and MCJIT are not thread-safe


@lru_cache(maxsize=1)
def initialize_llvm() -> None:
    """Once per process: the host target, and libm for MCJIT's symbol lookup."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    libm = ctypes.util.find_library("m")
    if libm:
        llvm.load_library_permanently(libm)  # sin, tanh, erf, ... for MCJIT's symbol lookup


def host_features() -> str:
    """The host CPU's features; where AVX-512 exists, let the vectoriser use its full width
    (LLVM's Intel tuning otherwise prefers 256-bit vectors)."""
    features = llvm.get_host_cpu_features().flatten()
    if "+avx512f" in features.split(","):
        features += ",-prefer-256-bit"
    return features


def host_target_machine() -> llvm.TargetMachine:
    """A new target machine for the host; MCJIT takes ownership of the one it is given."""
    initialize_llvm()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(),
        features=host_features(),
        opt=3,
        codemodel="jitdefault",
    )


@dataclass
class NativeModule:
    """A JIT-compiled module: entry points by function name, and each stage's text.

    The code lives as long as this object: llvmlite's ExecutionEngine disposes
    of itself (and frees the code) when it is garbage, so whatever may call
    into the code holds this object, and nothing keeps it in a reference cycle.
    """

    entry_points: dict[str, EntryPoint]
    addresses: dict[str, int]
    stages: dict[str, str]
    compile_seconds: float
    engine: llvm.ExecutionEngine = field(repr=False)

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


# Counts native compilations, so tests can prove that loading an artifact compiles nothing.
compile_count = 0


def lower_and_optimize(
    module: Module,
    tm: llvm.TargetMachine,
    opt_level: int = 3,
    seconds: dict[str, float] | None = None,
    profile: bool = False,
) -> tuple[llvm.ModuleRef, dict[str, EntryPoint], dict[str, str]]:
    """Lower every function of the (fused) `module` and optimise it for `tm`.

    Call with LLVM_LOCK held. Returns the optimised module, the entry points
    and the text of the `llvm` and `llvm-opt` stages; `seconds` receives the time of
    `llvm-ir` (lowering, parsing, verifying) and `llvm-o3`. `profile`: the code records
    each op's runs (codegen_llvm/profile.py).
    """
    from llvmlite import ir as ll

    from .lower import lower_function  # the lowering, only when code is made (not loaded)

    started = time.perf_counter()
    llmod = ll.Module(name="tc")
    llmod.triple = tm.triple
    llmod.data_layout = str(tm.target_data)
    entries = {
        f.name: lower_function(calling_convention(module, f), f, llmod, profile) for f in module.functions
    }
    stages = {"llvm": str(llmod)}
    try:
        # A context of its own: constants, types and metadata that LLVM interns in a
        # context live as long as it, so in the global one every compilation left a few KiB.
        parsed = llvm.parse_assembly(stages["llvm"], context=llvm.create_context())
        parsed.verify()
    except RuntimeError as err:
        raise TcCompilationError(f"LLVM rejected the generated IR: {err}") from err
    lowered = time.perf_counter()
    if opt_level > 0:
        run_default_pipeline(parsed, tm, opt_level)
    stages["llvm-opt"] = str(parsed)
    if seconds is not None:
        seconds["llvm-ir"] = lowered - started
        seconds["llvm-o3"] = time.perf_counter() - lowered
    return parsed, entries, stages


def run_default_pipeline(module: llvm.ModuleRef, tm: llvm.TargetMachine, speed_level: int) -> None:
    """Optimise `module` in place with LLVM's default O`speed_level` pipeline. Call with LLVM_LOCK held.

    The pass manager is disposed by hand: llvmlite's ModulePassManager inherits
    ObjectRef's no-op `_dispose`, so dropping it leaks the whole pipeline
    (about 50 KiB per compiled module). The pass builder is made afresh for
    each run because every run registers callbacks into it that point at the
    run's own stack; reusing one would make each later run slower.
    """
    pto = llvm.create_pipeline_tuning_options(speed_level=speed_level)
    builder = llvm.create_pass_builder(tm, pto)
    manager = builder.getModulePassManager()
    try:
        manager.run(module, builder)
    finally:
        NewPassManager._dispose(manager)
        manager.detach()


def default_num_threads() -> int:
    """TC_NUM_THREADS if set, else the cores this process may run on."""
    configured = os.environ.get("TC_NUM_THREADS")
    if configured:
        return max(1, int(configured))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
