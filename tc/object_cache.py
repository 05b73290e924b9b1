"""Native code from the compile cache: object code keyed by the optimised IR, the host and
the code generator's own source, loaded without running LLVM when it is there."""

from __future__ import annotations

import atexit
import ctypes
import functools
import json
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from tc.frontend.config import config
from tc.ir import Module, TcCompilationError
from tc.ir.calling import calling_convention
from tc.runtime.cache import CompileCache, cache_directory, cache_key, source_digest

from . import compile_log
from .promise import Promise

if TYPE_CHECKING:
    from tc.codegen_llvm import EntryPoint, NativeModule
    from tc.codegen_llvm.objectcode import Lowered, ObjectCode

    from . import tiering


def native_code(module: Module, optimized_ir: str, opt_level: int = 3, profile: bool = False) -> NativeModule:
    """Native code for the fused `module`, from the compile cache when it is there; `profile`:
    code that records each op's runs (codegen_llvm/profile.py)."""
    from tc import __version__
    from tc.codegen_llvm.loader import load_object
    from tc.codegen_llvm.symbols import EntryPoint, entry_symbol

    fingerprint = compiler_fingerprint()
    key = cache_key(
        optimized_ir,
        *host_key(),
        __version__,
        fingerprint,
        str(opt_level),
        *(["profile"] if profile else []),
    )
    cache = CompileCache(cache_directory())
    from . import tiering

    hooks = _cache_hooks(cache, key)
    hit = cache.get(key)
    if hit is not None and hit[0].get("quick") is True and config.tiered not in ("always", "large"):
        hit = None  # parked quick code, where code is to be optimised before its first call
    stages = _cached_stages(hit[0], key) if hit is not None else None
    if hit is not None and stages is not None:
        # The entry points follow from the module, so a header cannot misdirect a call.
        entries = {
            f.name: EntryPoint(entry_symbol(f), calling_convention(module, f).slot_ranks)
            for f in module.functions
        }
        try:
            with compile_log.stage("load"):
                if hit[0].get("quick") is True:
                    loaded = _parked(hit[1], entries, stages, hooks)
                else:
                    loaded = load_object(hit[1], entries, stages)
            compile_log.note("cache hit")
            return loaded
        except TcCompilationError:
            pass  # object code that fails its check is rebuilt below (and its entry replaced)
    compile_log.note("cache miss")
    caching = cache_directory() is not None  # (TC_CACHE=0: every compile makes its code)
    made = _QUICK_MADE.get(key) if caching else None
    if made is not None and tiering.wanted(made[0], opt_level, profile):
        return tiering.quick_code(*made, hooks)[0]
    from tc.codegen_llvm.objectcode import lower, optimized_object

    lowered = lower(module, profile)
    if tiering.wanted(lowered, opt_level, profile):
        native, code = tiering.quick_code(lowered, None, hooks)
        if caching:
            _QUICK_MADE[key] = (lowered, code)
            while len(_QUICK_MADE) > QUICK_MADE_KEPT:
                _QUICK_MADE.pop(next(iter(_QUICK_MADE)))
        return native
    code = optimized_object(lowered, opt_level)
    for name, seconds in code.seconds.items():
        compile_log.record(name, seconds)
    hooks.store(code)
    with compile_log.stage("load"):
        return load_object(code.data, code.entry_points, code.stages, check=False)


def _cache_hooks(cache: CompileCache, key: str) -> tiering.CacheHooks:
    """How code of `key` meets the compile cache `cache`: stored once optimised, parked as
    quick code at the process's end, found optimised by another module of the key."""
    from . import tiering

    def store(code: ObjectCode) -> None:
        with compile_log.stage("cache write"):
            # The stages' text (most of an entry's bytes) in an entry of its own, read when asked for.
            CompileCache(cache_directory(), suffix="tcstages").put(key, {}, json.dumps(code.stages).encode())
            cache.put(key, {"stages": list(code.stages)}, code.data)
        _QUICK_MADE.pop(key, None)  # a later compile finds the optimised code in the cache

    def park(code: ObjectCode) -> None:
        """Quick code cached as it is, where nothing is cached yet (tiering._at_exit)."""
        if not cache.has(key):
            CompileCache(cache_directory(), suffix="tcstages").put(key, {}, json.dumps(code.stages).encode())
            cache.put(key, {"stages": list(code.stages), "quick": True}, code.data)

    def optimised() -> tuple[bytes, Mapping[str, str]] | None:
        """The optimised code cached under this key (another module's of the same code)."""
        found = cache.get(key)
        if found is None or found[0].get("quick") is True:
            return None
        texts = _cached_stages(found[0], key)
        return None if texts is None else (found[1], texts)

    return tiering.CacheHooks(store, park, optimised)


# Quick code made in this process, by key, until its optimised code is cached: the same
# graph compiled again while its first code waits to be optimised (a model rebuilt, a test's
# functions) reloads it (1.3 ms) instead of lowering and emitting it again (11 ms for
# tanh(x) * 3 + exp(-x)).
_QUICK_MADE: dict[str, tuple[Lowered, ObjectCode]] = {}
QUICK_MADE_KEPT = 16


def _parked(
    data: bytes, entries: dict[str, EntryPoint], stages: Mapping[str, str], hooks: tiering.CacheHooks
) -> NativeModule:
    """Quick code an earlier process cached at its end (tiering._at_exit), loaded; optimised
    from its LLVM IR (read from the cache when needed) once its calls pay for that."""
    from . import tiering

    def lowered() -> Lowered:
        from tc.codegen_llvm.objectcode import Lowered  # (LLVM: loaded when the job runs)

        return Lowered(stages["llvm"], entries, 0.0)

    compile_log.note("quick code from the cache")
    return tiering.cached_quick_code(data, entries, lowered, hooks)


def support_library(names: list[str] | None = None) -> dict[str, int]:
    """The addresses of the support library's functions `names` (all when None) in this
    process (codegen_llvm/support.py: the thread pool, the product kernels)."""
    from tc.codegen_llvm.symbols import LIBRARY_FUNCTIONS, library_part

    addresses: dict[str, int] = {}
    for part in sorted({library_part(name) for name in names or LIBRARY_FUNCTIONS}):
        addresses |= _library_part(part)
    return addresses


def prefetch_support_library(module: Module) -> None:
    """Start compiling the support library's parts `module` will need and the cache lacks,
    each on a thread of its own: LLVM runs with the GIL released, so an empty cache's first
    compile makes them while it runs its passes and lowering (about 0.15 s of LLVM). "call"
    is always needed (the packed call); "pool" when the module has arrays (its loops may be
    spread over the cores); a dtype's product kernels when it multiplies matrices. A part
    guessed wrong is made when the code loads (set_library asks for what it calls)."""
    from tc.ir.ops.linalg import BatchedDot, Dot

    parts = {"call"}
    for function in module.functions:
        if any(a.type.rank for a in function.args):
            parts.add("pool")
        for op in function.walk():
            if any(r.type.rank for r in op.results):
                parts.add("pool")
            if type(op) in (Dot, BatchedDot) and op.results[0].type.dtype.value in ("f32", "f64"):
                parts.add(op.results[0].type.dtype.value)
    with _PARTS_LOCK:
        unmade = parts - set(_PARTS)
    wanted = sorted(part for part in unmade if not _in_cache(part))  # the cache asked outside the lock
    if wanted:  # a part in the cache loads in a millisecond, when first needed, on this thread
        _import_what_makers_use()
        _describe_host()
    for part in wanted:
        _part(part, background=True)


def _import_what_makers_use() -> None:
    """Import, on this thread, every module a part maker will use. Two threads importing
    overlapping modules at once can deadlock in Python's import locks (one of them then gets
    an ImportError), as a maker and this thread's passes and lowering would."""
    import platform  # noqa: F401

    import llvmlite.binding  # noqa: F401

    import tc.codegen_llvm.host  # noqa: F401
    import tc.codegen_llvm.jit  # noqa: F401
    import tc.codegen_llvm.loader  # noqa: F401
    import tc.codegen_llvm.support  # noqa: F401
    import tc.codegen_llvm.symbols  # noqa: F401
    import tc.codegen_llvm.target  # noqa: F401


def _describe_host() -> None:
    """Ask LLVM for the host's description (the lowering and the object code need it) before
    the makers start: LLVM calls take turns (llvmlite's one lock), and asked later each
    question waited for a maker's optimisation or instruction selection, 10-50 ms."""
    from tc.codegen_llvm.jit import host_target_machine
    from tc.codegen_llvm.target import host_target

    host_target().data_layout  # noqa: B018  (cached: asked of LLVM once per process)
    host_target_machine()  # (caches the target, CPU name and features it is made from)


def _in_cache(part: str) -> bool:
    """Whether the cache has an entry for `part` (not read: the load that needs the part
    reads and checks it, and makes the part if the entry turns out damaged)."""
    key, cache = _part_key(part)
    return cache.has(key)


def _part_key(part: str) -> tuple[str, CompileCache]:
    from tc import __version__

    key = cache_key("support library", part, *host_key(), __version__, compiler_fingerprint())
    return key, CompileCache(cache_directory(), suffix="tclib")


def _library_part(part: str) -> dict[str, int]:
    with compile_log.stage("support library"):  # the wait, when a thread is making it
        return _part(part).result()


_PARTS: dict[str, Promise[dict[str, int]]] = {}  # each part's addresses, made once per process
_PARTS_LOCK = threading.Lock()
_MAKERS: list[threading.Thread] = []


def _part(part: str, background: bool = False) -> Promise[dict[str, int]]:
    with _PARTS_LOCK:
        promise = _PARTS.get(part)
        start = promise is None
        if promise is None:
            promise = _PARTS[part] = Promise()
    if start and background:
        maker = threading.Thread(target=_make_part, args=(part, promise), name=f"tc {part}", daemon=True)
        _MAKERS.append(maker)
        maker.start()
    elif start:
        _make_part(part, promise)
    return promise


def _make_part(part: str, promise: Promise[dict[str, int]]) -> None:
    try:
        promise.set_result(_load_or_compile_part(part))
    except BaseException as error:  # handed to whoever waits for the part
        promise.set_exception(error)


def _wait_for_makers() -> None:
    """Let the part makers finish before the process exits or forks: LLVM must not be torn
    down, or its lock copied held, under a thread still in it."""
    for maker in list(_MAKERS):
        maker.join()


atexit.register(_wait_for_makers)
os.register_at_fork(before=_wait_for_makers)


def _load_or_compile_part(part: str) -> dict[str, int]:
    """One part of the support library: its object code from the compile cache when it is
    there, else compiled. Loaded once and never freed, since the pool's workers run its code
    until the process ends."""
    from tc.codegen_llvm.loader import load_object
    from tc.codegen_llvm.symbols import LIBRARY_FUNCTIONS, EntryPoint, library_part

    from . import tiering

    key, cache = _part_key(part)
    entries = {name: EntryPoint(name, ()) for name in LIBRARY_FUNCTIONS if library_part(name) == part}
    hit = cache.get(key)
    loaded = None
    parked = hit is not None and hit[0].get("quick") is True  # quick code an earlier process left
    if hit is not None and (tiering.library_wanted() or not parked):
        try:
            loaded = load_object(hit[1], entries, {})
        except TcCompilationError:
            pass  # rebuilt below
        if loaded is not None and parked:
            tiering.library_later(functools.partial(_optimize_part, part, None), lambda: None)
    if loaded is None:
        from tc.codegen_llvm.support import support_object, support_text

        # A dtype's products cost 0.6 s of LLVM optimised, 0.08 s quick. The pool, which
        # the workers run until the process ends, and the packed call, which every call runs
        # and the runtime keeps the address of, are always optimised (0.03 and 0.02 s).
        quick = part not in ("pool", "call") and tiering.library_wanted()
        text = support_text(part)
        data = support_object(text, quick=quick)
        if quick:
            park = functools.partial(_park_part, key, cache, data)
            tiering.library_later(functools.partial(_optimize_part, part, text), park)
        else:
            cache.put(key, {"stages": {}}, data)
        loaded = load_object(data, entries, {}, check=False)
    return _keep(loaded)


def _park_part(key: str, cache: CompileCache, data: bytes) -> None:
    """A part's quick code cached as it is at the process's end (tiering._at_exit), where
    nothing is cached yet: the next process loads it and optimises it in the background."""
    if not cache.has(key):
        cache.put(key, {"stages": {}, "quick": True}, data)


def _keep(loaded: NativeModule) -> dict[str, int]:
    loaded.set_library(support_library)  # the kernels' parallel loops: the pool
    _LIBRARY.append(loaded)
    return dict(loaded.addresses)


_LIBRARY: list[NativeModule] = []  # the library's code: never freed


def give_library(native: NativeModule) -> None:
    """Give `native` the support library's functions it calls, now and whenever optimised
    code replaces a part's quick code."""
    with _CLIENTS_LOCK:
        native.set_library(support_library)
        _CLIENTS.add(native)


def _optimize_part(part: str, text: str | None) -> None:
    """The tiering worker's job: make `part` (LLVM IR `text`, made here if None) optimised,
    cache it, and point every module that calls its quick code at it (the quick code stays
    loaded: calls may be under way)."""
    from tc.codegen_llvm.loader import load_object
    from tc.codegen_llvm.support import support_object, support_text
    from tc.codegen_llvm.symbols import LIBRARY_FUNCTIONS, EntryPoint, library_part

    key, cache = _part_key(part)
    data = support_object(support_text(part) if text is None else text)
    cache.put(key, {"stages": {}}, data)
    entries = {name: EntryPoint(name, ()) for name in LIBRARY_FUNCTIONS if library_part(name) == part}
    optimized = _keep(load_object(data, entries, {}, check=False))
    with _CLIENTS_LOCK:
        with _PARTS_LOCK:
            quick = _PARTS[part].result()
            made: Promise[dict[str, int]] = Promise()
            made.set_result(optimized)
            _PARTS[part] = made
        moved = {quick[name]: optimized[name] for name in quick}
        for client in list(_CLIENTS):
            client.rewrite_globals(moved)


# The modules given the library's functions (give_library), while they live.
_CLIENTS: weakref.WeakSet[NativeModule] = weakref.WeakSet()
_CLIENTS_LOCK = threading.Lock()


@functools.cache
def packed_call() -> Callable[..., int]:
    """The support library's tc_call_packed as a ctypes function (codegen_llvm/packed_call.py):
    (entry address, tuple of arrays, count, data slots, dims, dims capacity, numpy.ndarray's
    address) -> status."""
    address = support_library(["tc_call_packed"])["tc_call_packed"]
    c = ctypes
    prototype = c.CFUNCTYPE(
        c.c_int32, c.c_void_p, c.py_object, c.c_int64, c.c_void_p, c.c_void_p, c.c_int64, c.c_void_p
    )
    return prototype(address)  # type: ignore[no-any-return]


@functools.cache
def host_key() -> tuple[str, ...]:
    """What the cache keys say of the host: a fingerprint of the CPU as the operating system
    describes it (code compiled for one CPU is reused only on the same), or, where it
    describes nothing we read, the CPU as LLVM names it. Asking LLVM means loading it, which
    a warm start otherwise never does."""
    from tc.codegen_llvm.host import cpu_fingerprint

    fingerprint = cpu_fingerprint()
    if fingerprint is not None:
        return ("cpu", fingerprint)
    from tc.codegen_llvm.target import host_target

    host = host_target()
    return (host.triple, host.cpu, host.features)


def _cached_stages(header: dict[str, object], key: str) -> Mapping[str, str] | None:
    """The stages' text of a cache entry, read when first asked for; None if the header is
    not what we write."""
    names = header.get("stages")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return None
    return CachedStages(names, key)


class CachedStages(Mapping[str, str]):
    """The LLVM stages of code from the cache ("llvm", "llvm-opt"), read from their own entry
    when first asked for (`f.dump("llvm")`): parsing them cost a warm start 1-2 ms. If that
    entry is gone or damaged, the stages say so instead of their text."""

    def __init__(self, names: list[str], key: str) -> None:
        self.names, self.key = names, key
        self._texts: dict[str, str] | None = None

    def __getitem__(self, name: str) -> str:
        if name not in self.names:
            raise KeyError(name)
        if self._texts is None:
            self._texts = self._read()
        return self._texts.get(name, f"; the {name} text of this cached code is no longer in the cache\n")

    def _read(self) -> dict[str, str]:
        hit = CompileCache(cache_directory(), suffix="tcstages").get(self.key)
        try:
            texts = json.loads(hit[1]) if hit is not None else {}
        except (ValueError, RecursionError):
            return {}
        if not isinstance(texts, dict):
            return {}
        return {k: v for k, v in texts.items() if isinstance(k, str) and isinstance(v, str)}

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def compiler_fingerprint(gpu: bool = False) -> str:
    """A hash of the code generator's own source, so a changed compiler never reuses old code:
    the CPU's (codegen_llvm, ir), or with `gpu` the GPU's, which also lowers through
    codegen_llvm."""
    return source_digest("codegen_llvm", "codegen_ptx", "ir") if gpu else source_digest("codegen_llvm", "ir")
