"""Ahead-of-time code: emit a module's native code as an object file (loader.py loads it).

`emit_object` lowers (jit.lower_module) and optimises (jit.parse_and_optimize), then
asks LLVM for a relocatable ELF object instead of JIT-compiling. The object is
position-independent in the small code model; the loader (elfload.py, or MCJIT) places it
anywhere in memory, calls beyond 32-bit reach going through linkage entries.
`quick_object` emits the same lowering unoptimised, for tiered compilation (tc/tiering.py).
"""

from __future__ import annotations

import time

from ..ir import Module
from . import jit
from .dispatch import dispatch_symbol, dispatch_text
from .jit import host_target_machine
from .symbols import EntryPoint
from .target import HostTarget, host_target


class ObjectCode:
    """A module's native code as a relocatable object, with the text of each stage: `stages`
    llvm, llvm-opt and (if asked) asm; `seconds` llvm-ir, llvm-o3 and object. (Plain classes,
    these two: defining a typing.NamedTuple cost an empty cache's first compile 0.08 ms.)"""

    __slots__ = ("data", "entry_points", "target", "stages", "seconds")

    def __init__(
        self,
        data: bytes,
        entry_points: dict[str, EntryPoint],
        target: HostTarget,
        stages: dict[str, str],
        seconds: dict[str, float],
    ) -> None:
        self.data, self.entry_points, self.target = data, entry_points, target
        self.stages, self.seconds = stages, seconds


class Lowered:
    """A module's functions as LLVM IR text, before LLVM has seen it; `seconds`: the lowering's."""

    __slots__ = ("text", "entry_points", "seconds")

    def __init__(self, text: str, entry_points: dict[str, EntryPoint], seconds: float) -> None:
        self.text, self.entry_points, self.seconds = text, entry_points, seconds


def lower(module: Module, profile: bool = False) -> Lowered:
    """Lower every function of the (fused) `module` (whose code records each op's runs if
    `profile`). Python only, and before any call into LLVM: each waits while another thread
    is in LLVM (the support library or optimised code made in the background)."""
    started = time.perf_counter()
    text, entries = jit.lower_module(module, profile)
    return Lowered(text, entries, time.perf_counter() - started)


def emit_object(
    module: Module, opt_level: int = 3, assembly: bool = False, profile: bool = False
) -> ObjectCode:
    """Lower every function of the (fused) `module`, optimise at `opt_level`, emit an object
    (whose code records each op's runs if `profile`)."""
    return optimized_object(lower(module, profile), opt_level, assembly)


def optimized_object(lowered: Lowered, opt_level: int = 3, assembly: bool = False) -> ObjectCode:
    """`lowered` optimised at `opt_level` and emitted as an object (with its assembly if
    `assembly`)."""
    seconds: dict[str, float] = {}
    tm = host_target_machine()
    with jit.LLVM_LOCK:
        started = time.perf_counter()
        parsed, optimized = jit.parse_and_optimize(lowered.text, tm, opt_level, seconds)
        with parsed:
            parsing = time.perf_counter() - started - seconds.get("llvm-o3", 0.0)
            seconds["llvm-ir"] = lowered.seconds + parsing
            stages = {"llvm": lowered.text, "llvm-opt": optimized}
            if assembly:
                stages["asm"] = tm.emit_assembly(parsed)
            started = time.perf_counter()
            data = tm.emit_object(parsed)
            seconds["object"] = time.perf_counter() - started
        jit.compile_count += 1
    return ObjectCode(data, lowered.entry_points, host_target(), stages, seconds)


def quick_object(lowered: Lowered) -> ObjectCode:
    """`lowered` emitted unoptimised, by LLVM's fast instruction selection (a tenth of the
    optimised object's time), with a dispatch stub per entry point (dispatch.py): the entry
    points are the stubs, so that optimised code can take over the calls."""
    tm = host_target_machine(opt=0)
    symbols = [entry.symbol for entry in lowered.entry_points.values()]
    with jit.LLVM_LOCK:
        started = time.perf_counter()
        with jit.parse_verified(lowered.text + dispatch_text(symbols)) as parsed:
            parsed_at = time.perf_counter()
            data = tm.emit_object(parsed)
        seconds = {"llvm-ir": lowered.seconds + parsed_at - started}
        seconds["object"] = time.perf_counter() - parsed_at
        jit.compile_count += 1
    entries = {
        name: EntryPoint(dispatch_symbol(entry.symbol), entry.slot_ranks)
        for name, entry in lowered.entry_points.items()
    }
    return ObjectCode(data, entries, host_target(), {"llvm": lowered.text}, seconds)


def assembly_of(optimized_ir: str) -> str:
    """The host assembly of already optimised LLVM IR (the `asm` stage, made only when asked
    for: emitting it costs about a third of a compile)."""
    tm = host_target_machine()
    with jit.LLVM_LOCK, jit.parse_verified(optimized_ir) as parsed:
        return tm.emit_assembly(parsed)
