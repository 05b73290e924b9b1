"""Native code from the compile cache: object code keyed by the optimised IR, the host and
the code generator's own source, loaded without running LLVM when it is there."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from tc.ir import Module, TcCompilationError
from tc.ir.calling import calling_convention
from tc.runtime.cache import CompileCache, cache_directory, cache_key, source_digest

from . import compile_log

if TYPE_CHECKING:
    from tc.codegen_llvm import NativeModule


def native_code(module: Module, optimized_ir: str, opt_level: int = 3) -> NativeModule:
    """Native code for the fused `module`, from the compile cache when it is there."""
    from tc import __version__
    from tc.codegen_llvm.objectcode import emit_object, host_target, load_object
    from tc.codegen_llvm.symbols import EntryPoint, entry_symbol

    host = host_target()
    fingerprint = compiler_fingerprint()
    key = cache_key(
        optimized_ir, host.triple, host.cpu, host.features, __version__, fingerprint, str(opt_level)
    )
    cache = CompileCache(cache_directory())
    hit = cache.get(key)
    stages = _cached_stages(hit[0]) if hit is not None else None
    if hit is not None and stages is not None:
        # The entry points follow from the module, so a header cannot misdirect a call.
        entries = {
            f.name: EntryPoint(entry_symbol(f), calling_convention(module, f).slot_ranks)
            for f in module.functions
        }
        try:
            with compile_log.stage("load"):
                loaded = load_object(hit[1], entries, stages)
            compile_log.note("cache hit")
            return loaded
        except TcCompilationError:
            pass  # object code that fails its check is rebuilt below (and its entry replaced)
    compile_log.note("cache miss")
    code = emit_object(module, opt_level)
    for name, seconds in code.seconds.items():
        compile_log.record(name, seconds)
    with compile_log.stage("cache write"):
        cache.put(key, {"stages": code.stages}, code.data)
    with compile_log.stage("load"):
        return load_object(code.data, code.entry_points, code.stages, check=False)


@functools.cache
def thread_pool_address() -> int:
    """The address of the process's thread pool (codegen_llvm/thread_pool.py), 0 where the
    host has none: its object code from the compile cache when it is there. Loaded once and
    never freed, since its workers run its code until the process ends."""
    from tc import __version__
    from tc.codegen_llvm.objectcode import host_target, load_object
    from tc.codegen_llvm.symbols import EntryPoint
    from tc.codegen_llvm.thread_pool import POOL_FUNCTION, pool_object, supported

    host = host_target()
    if not supported(host.triple):
        return 0
    key = cache_key("thread pool", host.triple, host.cpu, host.features, __version__, compiler_fingerprint())
    cache = CompileCache(cache_directory(), suffix="tcpool")
    entries = {"pool": EntryPoint(POOL_FUNCTION, ())}
    hit = cache.get(key)
    if hit is not None:
        try:
            _POOL.append(load_object(hit[1], entries, {}))
            return _POOL[-1].addresses["pool"]
        except TcCompilationError:
            pass  # rebuilt below
    data = pool_object(host.triple)
    cache.put(key, {"stages": {}}, data)
    _POOL.append(load_object(data, entries, {}, check=False))
    return _POOL[-1].addresses["pool"]


_POOL: list[NativeModule] = []  # the pool's code: never freed


def _cached_stages(header: dict[str, object]) -> dict[str, str] | None:
    """The stages' text in a cache entry's header, or None if the header is not what we write."""
    stages = header.get("stages")
    if not isinstance(stages, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in stages.items()
    ):
        return None
    return stages


def compiler_fingerprint() -> str:
    """A hash of the code generator's own source, so a changed compiler never reuses old code."""
    return source_digest("codegen_llvm", "codegen_ptx", "ir")
