"""Ahead-of-time code: emit a module's native code as an object file (loader.py loads it).

`emit_object` lowers (jit.lower_module) and optimises (jit.parse_and_optimize), then
asks LLVM for a relocatable ELF object instead of JIT-compiling. The object
uses the JIT's large code model, so it can be placed anywhere in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import llvmlite.binding as llvm

from ..ir import Module
from . import jit
from .jit import host_target_machine
from .symbols import EntryPoint
from .target import HostTarget, host_target


@dataclass
class ObjectCode:
    """A module's native code as a relocatable object, with the text of each stage."""

    data: bytes
    entry_points: dict[str, EntryPoint]
    target: HostTarget
    stages: dict[str, str] = field(default_factory=dict)  # llvm, llvm-opt and (if asked) asm
    seconds: dict[str, float] = field(default_factory=dict)  # llvm-ir, llvm-o3, object


def emit_object(
    module: Module, opt_level: int = 3, assembly: bool = False, profile: bool = False
) -> ObjectCode:
    """Lower every function of the (fused) `module`, optimise at `opt_level`, emit an object
    (whose code records each op's runs if `profile`)."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    # Python only, and before any call into LLVM (each waits while another thread is in LLVM,
    # as the support library compiled ahead may be: tc/object_cache.py).
    text, entries = jit.lower_module(module, profile)
    lowered = time.perf_counter() - started
    tm = host_target_machine()
    with jit.LLVM_LOCK:
        started = time.perf_counter()
        parsed, optimized = jit.parse_and_optimize(text, tm, opt_level, seconds)
        seconds["llvm-ir"] = lowered + time.perf_counter() - started - seconds.get("llvm-o3", 0.0)
        stages = {"llvm": text, "llvm-opt": optimized}
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
