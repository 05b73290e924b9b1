"""Ahead-of-time code: emit a module's native code as an object file, and load it back.

`emit_object` lowers and optimises (jit.lower_and_optimize), then
asks LLVM for a relocatable ELF object instead of JIT-compiling. The object
uses the JIT's large code model, so MCJIT can place it anywhere in memory.
`load_object` hands those bytes to a fresh MCJIT engine (built on an empty
module) and resolves the entry points: no compiler and no system linker is
needed on the loading machine, and no LLVM optimisation or code generation
runs there (`jit.compile_count` does not move). External symbols (libm,
pthreads, malloc) are resolved against the running process, as for JIT code.
The bytes come from files (the compile cache, artifacts), so their structure
is checked first (elfcheck.py): a damaged object raises, never crashes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import llvmlite.binding as llvm

from ..ir import Module, TcCompilationError
from . import jit
from .elfcheck import check_object
from .jit import NativeModule, default_num_threads, host_target_machine
from .symbols import EntryPoint


@dataclass(frozen=True)
class HostTarget:
    """What native code is specific to: the triple, the CPU name and its features."""

    triple: str
    cpu: str
    features: str  # LLVM's "+avx2,-avx512f,..." form

    def enabled_features(self) -> set[str]:
        return {f[1:] for f in self.features.split(",") if f.startswith("+")}


@dataclass
class ObjectCode:
    """A module's native code as a relocatable object, with the text of each stage."""

    data: bytes
    entry_points: dict[str, EntryPoint]
    target: HostTarget
    stages: dict[str, str] = field(default_factory=dict)  # llvm, llvm-opt and (if asked) asm
    seconds: dict[str, float] = field(default_factory=dict)  # llvm-ir, llvm-o3, object


def host_target() -> HostTarget:
    tm = host_target_machine()  # also initialises LLVM's native target
    return HostTarget(tm.triple, llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten())


def emit_object(
    module: Module, opt_level: int = 3, assembly: bool = False, profile: bool = False
) -> ObjectCode:
    """Lower every function of the (fused) `module`, optimise at `opt_level`, emit an object
    (whose code records each op's runs if `profile`)."""
    tm = host_target_machine()
    seconds: dict[str, float] = {}
    with jit.LLVM_LOCK:
        parsed, entries, stages = jit.lower_and_optimize(module, tm, opt_level, seconds, profile)
        if assembly:
            stages["asm"] = tm.emit_assembly(parsed)
        started = time.perf_counter()
        data = tm.emit_object(parsed)
        seconds["object"] = time.perf_counter() - started
        jit.compile_count += 1
    return ObjectCode(data, entries, host_target(), stages, seconds)


def assembly_of(optimized_ir: str) -> str:
    """The host assembly of already optimised LLVM IR (the `asm` stage, made only when asked
    for: emitting it costs about a third of a compile)."""
    tm = host_target_machine()
    with jit.LLVM_LOCK:
        parsed = llvm.parse_assembly(optimized_ir, context=llvm.create_context())
        return tm.emit_assembly(parsed)


def load_object(
    data: bytes, entry_points: dict[str, EntryPoint], stages: dict[str, str], check: bool = True
) -> NativeModule:
    """A NativeModule over previously emitted object code; compiles nothing.

    Raises elfcheck.ObjectCodeError (a TcCompilationError) for object code that is
    not a sound relocatable object defining every entry point. `check=False` is
    for bytes that LLVM has just emitted in this process, not read from a file.
    """
    start = time.perf_counter()
    if check:
        check_object(data, [e.symbol for e in entry_points.values()])
    tm = host_target_machine()
    with jit.LLVM_LOCK:
        empty = llvm.parse_assembly("")
        empty.triple = tm.triple
        engine = llvm.create_mcjit_compiler(empty, tm)  # takes ownership of `tm`
        engine.add_object_file(llvm.ObjectFileRef.from_data(data))
        engine.finalize_object()
        addresses = {name: engine.get_function_address(e.symbol) for name, e in entry_points.items()}
    missing = [entry_points[name].symbol for name, address in addresses.items() if not address]
    if missing:
        raise TcCompilationError(f"the object code has no entry point {', '.join(missing)}")
    native = NativeModule(entry_points, addresses, dict(stages), time.perf_counter() - start, engine)
    native.set_num_threads(default_num_threads())
    return native
