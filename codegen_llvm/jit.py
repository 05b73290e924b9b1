"""The host target and the LLVM half of the pipeline.

LLVM IR text (`lower_module`, llvm_ir/) -> parse -> verify -> O3 for the host CPU (`parse_and_optimize`);
objectcode.py turns the result into object code (loader.py loads it).
Every stage's text is kept (assembly is made from `llvm-opt` when first asked for),
so `f.dump("llvm-opt")` and `tc compile --emit asm`
show exactly what ran.
"""

from __future__ import annotations

import sys
import threading
import time
from functools import cache, lru_cache
from typing import Any

from ..ir import Module, TcCompilationError
from ..ir.calling import calling_convention
from . import llvm_c
from . import llvm_ir as ll
from .host import global_symbols
from .symbols import EntryPoint

# While a thread runs LLVM, the interpreter hands the GIL over this often (seconds) instead
# of every 5 ms: an LLVM job is many short calls into LLVM, each of which gives the GIL up and
# waits to take it back, and beside a thread running Python each wait lasted the whole switch
# interval (the packed call's O3, 14.6 ms alone: 72 ms beside a busy thread, 21 ms at 0.5 ms).
LLVM_SWITCH_INTERVAL = 0.0005


class _LlvmLock:
    """LLVM_LOCK: one thread at a time in LLVM (its pass managers and MCJIT are not
    thread-safe), re-entrant, with the GIL's switch interval at LLVM_SWITCH_INTERVAL while
    it is held (a background compile, tiering's or the support library's, then costs the
    thread running Python little and finishes in about the time it takes alone)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # (changed only by the thread holding the lock)
        self._interval = 0.0

    def __enter__(self) -> _LlvmLock:
        self._lock.acquire()
        self._depth += 1
        if self._depth == 1:
            self._interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._interval, LLVM_SWITCH_INTERVAL))
        return self

    def __exit__(self, *exception: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            sys.setswitchinterval(self._interval)
        self._lock.release()


LLVM_LOCK = _LlvmLock()


@lru_cache(maxsize=1)
def initialize_llvm() -> None:
    """Once per process: the host target, and libm's symbols (sin, tanh, erf, ...) among the
    process's global ones, which MCJIT's symbol lookup searches (elfcheck loads it by its
    usual name: ctypes.util.find_library costs a cold compile an import of subprocess and a
    run of ldconfig)."""
    llvm_c.load()
    global_symbols()


def host_features() -> str:
    """The host CPU's features; where AVX-512 exists, let the vectoriser use its full width
    (LLVM's Intel tuning otherwise prefers 256-bit vectors)."""
    features = host_cpu()[1]
    if "+avx512f" in features.split(","):
        features += ",-prefer-256-bit"
    return features


@cache
def host_target_machine(opt: int = 3) -> llvm_c.TargetMachine:
    """The host's target machine generating code at optimisation level `opt` (0: LLVM's fast
    instruction selection), position-independent in the small code model. One per level and
    process (making one took 0.25 ms, and an empty cache's first compile made three); used
    with LLVM_LOCK held, as every LLVM job is."""
    return llvm_c.TargetMachine(host_triple(), host_cpu()[0], host_features(), opt)


def mcjit_target_machine() -> Any:
    """An llvmlite.binding target machine for the host, as MCJIT takes (and owns) one: the
    loader's fallback and the GPU emulator's engines."""
    import llvmlite.binding as llvm

    target = llvm.Target.from_triple(host_triple())
    return target.create_target_machine(
        cpu=host_cpu()[0], features=host_features(), opt=3, codemodel="small", reloc="pic"
    )


# The host as LLVM describes it, asked once per process: each question gives the GIL up and
# waits to take it back, behind the support library's maker on another thread (10-50 ms each
# when llvmlite.binding's one lock also made it wait for the maker's optimisation).
@lru_cache(maxsize=1)
def host_cpu() -> tuple[str, str]:
    """LLVM's name for the host CPU, and its features ("+avx2,-avx512f,..."): the host's own,
    or those `generate_for_cpu` set."""
    initialize_llvm()
    if _GENERATED_FOR is not None:
        return _GENERATED_FOR
    return llvm_c.host_cpu_name(), llvm_c.host_cpu_features()


_GENERATED_FOR: tuple[str, str] | None = None


def generate_for_cpu(cpu: str, features: str) -> None:
    """Make this process generate code for the x86-64 CPU `cpu` with `features` (LLVM's forms),
    not for its host: tools/prebuild_library.py's, which makes the support library for a
    baseline CPU. Before anything asks for the host, whose description is asked once."""
    global _GENERATED_FOR
    if host_cpu.cache_info().currsize:
        raise TcCompilationError("generate_for_cpu: code was already generated for the host CPU")
    _GENERATED_FOR = (cpu, features)


@lru_cache(maxsize=1)
def host_triple() -> str:
    initialize_llvm()
    return llvm_c.default_triple()


# Counts native compilations, so tests can prove that loading an artifact compiles nothing.
compile_count = 0


def lower_module(module: Module, profile: bool = False) -> tuple[str, dict[str, EntryPoint]]:
    """Every function of the (fused) `module` lowered to LLVM IR text, with its entry points.
    Python only (llvm_ir/), so it needs no LLVM_LOCK: while it runs, another thread may be
    in LLVM (the support library compiled ahead, tc/library_parts.py). `profile`: the code
    records each op's runs (codegen_llvm/profile.py)."""
    from .lower import lower_function  # the lowering, only when code is made (not loaded)
    from .module_text import module_text
    from .target import host_target

    llmod = host_target().new_module("tc")
    entries = {
        f.name: lower_function(calling_convention(module, f), f, llmod, profile) for f in module.functions
    }
    extend_flag_returns(llmod)
    return module_text(llmod), entries


def extend_flag_returns(module: ll.Module) -> None:
    """Mark each function returning an i1 (the outlined loops' "exact math asked for" and
    index-failure flags) as returning it zero-extended: LLVM's fast instruction selection
    lowers such returns itself, and sent the plain ones to SelectionDAG (the logistic
    regression's quick code emitted in 11.6 ms, not 13.2). The callee then clears the
    register's upper bits, which no caller needs and any caller may rely on."""
    for value in module.globals.values():
        if isinstance(value, ll.Function) and value.return_value.type == ll.IntType(1):
            value.return_value.attributes.add("zeroext")


def parse_and_optimize(
    text: str, tm: llvm_c.TargetMachine, opt_level: int = 3, seconds: dict[str, float] | None = None
) -> tuple[llvm_c.ParsedModule, str]:
    """Parse and verify LLVM IR `text`, then optimise it for `tm`: the module (the caller closes
    it) and its text (the `llvm-opt` stage); `seconds` receives `llvm-o3`. Call with LLVM_LOCK
    held."""
    parsed = parse_verified(text)
    parsed_at = time.perf_counter()
    if opt_level > 0:
        parsed.optimize(tm, opt_level)
    if seconds is not None:
        seconds["llvm-o3"] = time.perf_counter() - parsed_at
    return parsed, str(parsed)


def parse_verified(text: str) -> llvm_c.ParsedModule:
    """LLVM IR `text` parsed and verified: TcCompilationError (an llvm_c.LlvmError) for IR
    that LLVM rejects."""
    parsed = None
    try:
        parsed = llvm_c.ParsedModule(text)
        parsed.verify()
    except llvm_c.LlvmError as err:
        if parsed is not None:
            parsed.close()
        raise llvm_c.LlvmError(f"LLVM rejected the generated IR: {err}") from err
    return parsed
