"""The support library's parts in this process (codegen_llvm/support.py: the packed call, the
thread pool, each dtype's products): each loaded once, from the compile cache, from tc's
prebuilt library (prebuilt_library.py) or made for the host, on a thread of its own while a
cold compile runs its passes; a dtype's products made quick and optimised for the host in the
background (tiering.library_later), every module that calls them then pointed at the new code."""

from __future__ import annotations

import atexit
import ctypes
import functools
import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from tc.ir import Module, TcCompilationError
from tc.runtime.cache import CompileCache, cache_directory, cache_key, write_later

from . import compile_log
from .object_cache import compiler_fingerprint, host_key
from .promise import Promise

if TYPE_CHECKING:
    from tc.codegen_llvm import EntryPoint, NativeModule


def support_library(names: list[str] | None = None) -> dict[str, int]:
    """The addresses of the support library's functions `names` (all when None) in this
    process (codegen_llvm/support.py: the thread pool, the product kernels)."""
    from tc.codegen_llvm.symbols import LIBRARY_FUNCTIONS, library_part

    addresses: dict[str, int] = {}
    for part in sorted({library_part(name) for name in names or LIBRARY_FUNCTIONS}):
        addresses |= _library_part(part)
    return addresses


def support_parts(module: Module) -> list[str]:
    """The support library's parts `module` will need: "call" always (the packed call);
    "pool" when it has arrays (its loops may be spread over the cores); a dtype's product
    kernels when it multiplies matrices of that dtype."""
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
    return sorted(parts)


def prefetch_support_library(parts: list[str]) -> None:
    """Start compiling the support library's `parts` (support_parts) the cache lacks, each on
    a thread of its own: LLVM runs with the GIL released, so an empty cache's first compile
    makes them while it runs its passes and lowering (about 0.15 s of LLVM). A part guessed
    wrong is made when the code loads (set_library asks for what it calls)."""
    with _PARTS_LOCK:
        unmade = set(parts) - set(_PARTS)
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

    import tc.codegen_llvm.host  # noqa: F401
    import tc.codegen_llvm.jit  # noqa: F401
    import tc.codegen_llvm.llvm_c  # noqa: F401
    import tc.codegen_llvm.loader  # noqa: F401
    import tc.codegen_llvm.support  # noqa: F401
    import tc.codegen_llvm.symbols  # noqa: F401
    import tc.codegen_llvm.target  # noqa: F401


def _describe_host() -> None:
    """Ask LLVM for the host's description (the lowering and the object code need it) before
    the makers start: asked later, each question waited for the GIL behind a maker's Python
    (and, through llvmlite.binding's one lock, behind its optimisation: 10-50 ms)."""
    from tc.codegen_llvm.jit import host_target_machine
    from tc.codegen_llvm.target import host_target

    host_target().data_layout  # noqa: B018  (cached: asked of LLVM once per process)
    host_target_machine()  # (made once: with the CPU name and features it is made from)


def _in_cache(part: str) -> bool:
    """Whether the cache has an entry for `part`, or tc's prebuilt library serves it (not
    read: the load that needs the part reads and checks it, and makes the part if the entry
    turns out damaged)."""
    key, cache = _part_key(part)
    if cache.has(key):
        return True
    from tc.prebuilt_library import serves  # (not imported by a warm start)

    return serves(part)


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
    from .object_cache import load_code, put_object

    key, cache = _part_key(part)
    entries = {name: EntryPoint(name, ()) for name in LIBRARY_FUNCTIONS if library_part(name) == part}
    hit = cache.get(key)
    loaded = None
    parked = hit is not None and hit[0].get("quick") is True  # quick code an earlier process left
    if hit is not None and (tiering.library_wanted() or not parked):
        try:
            loaded = load_code(hit[1], entries, {}, digest=hit[0]["sha256"])
        except TcCompilationError:
            pass  # rebuilt below
        if loaded is not None and parked:
            tiering.library_later(functools.partial(_optimize_part, part, None), lambda: None)
    if loaded is None:
        loaded = _prebuilt(part, key, cache, entries)
    if loaded is None:
        from tc.codegen_llvm.support import support_object, support_text

        # A dtype's products cost 0.6 s of LLVM optimised, 0.08 s quick. The pool, which
        # the workers run until the process ends, and the packed call, which every call runs
        # and the runtime keeps the address of, are always optimised (0.03 and 0.02 s).
        quick = part not in FINAL_PARTS and tiering.library_wanted()
        text = support_text(part)
        data = support_object(text, quick=quick)
        if quick:
            park = functools.partial(_park_part, key, cache, data)
            tiering.library_later(functools.partial(_optimize_part, part, text), park)
        else:
            put_object(cache, key, {"stages": {}}, data)
        loaded = load_object(data, entries, {}, check=False)
    return _keep(loaded)


def _prebuilt(
    part: str, key: str, cache: CompileCache, entries: dict[str, EntryPoint]
) -> NativeModule | None:
    """`part` as tc ships it prebuilt for a baseline CPU like the host (tc/prebuilt_library.py),
    loaded; None where it does not serve. The packed call and the pool are final (cached as
    the host's own); a dtype's products are quick code: LLVM's scheduling for the host made
    the MLP's float32 epoch 118 ms against the baseline's 140, so they are optimised for the
    host in the background as parked code is, and parked if the process ends first."""
    from tc.prebuilt_library import prebuilt_part

    from . import tiering
    from .object_cache import load_code, put_object

    found = prebuilt_part(part)
    if found is None:
        return None
    try:
        loaded = load_code(found[1], entries, {})
    except TcCompilationError:
        return None  # (checked: not code for this host after all) made below
    compile_log.note(f"support library {part}: prebuilt for {found[0]}")
    if part in FINAL_PARTS:  # (cached for the next process: this one has it loaded)
        write_later(functools.partial(put_object, cache, key, {"stages": {}}, found[1]))
    else:
        park = functools.partial(_park_part, key, cache, found[1])
        tiering.library_later(functools.partial(_optimize_part, part, None), park)
    return loaded


def _park_part(key: str, cache: CompileCache, data: bytes) -> None:
    """A part's quick code cached as it is at the process's end (tiering._at_exit), where
    nothing is cached yet: the next process loads it and optimises it in the background."""
    if not cache.has(key):
        from .object_cache import put_object

        put_object(cache, key, {"stages": {}, "quick": True}, data)


FINAL_PARTS = ("call", "pool")  # always optimised: the runtime and the workers hold their code


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

    from .object_cache import put_object

    key, cache = _part_key(part)
    data = support_object(support_text(part) if text is None else text)
    put_object(cache, key, {"stages": {}}, data)
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
