"""Tiered compilation: quickly made code answers the first calls while the optimised code
is made on a thread of its own, which then takes the calls over.

LLVM's O3 pipeline and instruction selection take most of a cold compile: 0.8-1.0 s for
a logistic-regression train step on a 2-core Xeon, against 0.04 s to emit the same
lowering unoptimised with LLVM's fast instruction selection; 0.6 s for one dtype's part of
the support library (the products), against 0.08 s; 60-68 ms for `x * k` on a vector,
against 13 ms. `config.tiered` (TC_TIERED) says what is made quick first:

- "always" (the default): every module, and the support library's products.
- "large": the products and the modules whose LLVM IR is long (QUICK_AT_CHARS).
- "library": the products only; "never": everything optimised before its first call.

Quick and optimised code compute the same bits, so no result depends on which ran or on
when the hand-over came: the products are explicit vector tiles and FMAs, float sums are
taken in explicit lanes whose order the IR fixes (codegen_llvm/reduce_block.py), and
nothing carries fast-math flags that would let O3 reorder it.

On a cache miss, a tiered module is emitted quickly, with a dispatch stub per entry point
(codegen_llvm/dispatch.py), and returned at once. Its optimisation waits until its functions'
calls show that it pays (OPTIMISE_AFTER_CALLS calls, or calls that took OPTIMISE_AFTER_SECONDS
in all: a function called once or twice, as a test's or an evaluation's, never costs a
background core seconds of LLVM). Quick code runs 1.7-6.6x slower than optimised code
(exp, softmax, a sum over 2^22 elements), so a call whose arrays hold OPTIMISE_FIRST_AT
elements or more waits for the optimised code instead. The worker thread optimises the same
text, writes the optimised object to the compile cache (a new process loads it directly),
loads it, and points the stubs at it. A call under way finishes in the code it started in;
the next one runs the optimised code. LLVM runs with the GIL released, so the worker costs
the calling thread nothing but a core.

`finish_compiling()` starts the optimisation of every module still in use and waits for
the worker (benchmarks call it before timing the steady state). The process's exit waits
for the optimisations under way (LLVM must not be torn down under the worker) and caches
the quick code of the modules whose optimisation never started, as it is: the next process
loads that quick code and optimises it only if its own calls pay for that (optimising them
all at exit made a script's first run end 0.55 s late for ten small functions). `os.fork`
waits for the worker, which must not copy LLVM's lock held.
"""

from __future__ import annotations

import atexit
import functools
import os
import queue
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, NamedTuple

from tc.frontend.config import config
from tc.runtime.cache import write_pending

from .promise import Promise

if TYPE_CHECKING:
    from tc.codegen_llvm import EntryPoint, NativeModule
    from tc.codegen_llvm.objectcode import Lowered, ObjectCode
    from tc.runtime import CompiledFunction

# "large" makes quick code first for modules whose LLVM IR text is at least this long: about
# 0.2 s of optimisation on the machines tc is measured on.
QUICK_AT_CHARS = 32_000
# A quick module is optimised at its functions' OPTIMISE_AFTER_CALLS-th call, or at the first
# call after its calls took OPTIMISE_AFTER_SECONDS in all (about what optimising one costs).
OPTIMISE_AFTER_CALLS = 8
OPTIMISE_AFTER_SECONDS = 0.25
# A call of quick code whose array arguments hold this many elements waits for the optimised
# code. About where quick code's extra run time reaches what optimising costs: measured on
# 2^22 float64 elements and doubled, exp 43 ms extra against 88 ms of LLVM, the activation
# max(0.1x,x)*sigmoid(x)+tanh(x) 140 against 148 ms, a 2048 x 2048 softmax 118 against 496.
OPTIMISE_FIRST_AT = 1 << 23


def wanted(lowered: Lowered, opt_level: int, profile: bool) -> bool:
    """Whether to make quick code first for `lowered` (profiled code never: its op timings
    must be of the code that runs on)."""
    mode = config.tiered
    if profile or opt_level != 3 or mode not in ("large", "always"):
        return False
    return mode == "always" or len(lowered.text) >= QUICK_AT_CHARS


def library_wanted() -> bool:
    """Whether to make the support library's products quick first (codegen_llvm/support.py)."""
    return config.tiered != "never"


def library_later(job: Callable[[], None], park: Callable[[], None]) -> None:
    """Optimise a support library part (`job`) in the background: with every module tiered
    ("always"), once the first module's calls pay for its own optimisation (or
    finish_compiling asks), so that a short script never waits at its end for the products'
    O3 (1.05 s: the process's end waits for a job under way); `park` at the end if not yet
    started."""
    if config.tiered != "always":
        later(job, park)
        return
    with _LIBRARY_LOCK:
        _LIBRARY_JOBS.append((job, park))


def start_library() -> None:
    """Queue the library parts' optimisations held back by `library_later`."""
    with _LIBRARY_LOCK:
        jobs = list(_LIBRARY_JOBS)
        _LIBRARY_JOBS.clear()
    for job, park in jobs:
        later(job, park)


_LIBRARY_JOBS: list[tuple[Callable[[], None], Callable[[], None]]] = []
_LIBRARY_LOCK = threading.Lock()


class CacheHooks(NamedTuple):
    """How a quick module's code meets the compile cache (object_cache.native_code)."""

    store: Callable[[ObjectCode], None]  # the optimised code, once made
    park: Callable[[ObjectCode], None]  # the quick code, at the process's end if not optimised
    # the optimised code (object bytes, stages) if another module of the same key cached it
    optimised: Callable[[], tuple[bytes, Mapping[str, str]] | None]


def quick_code(
    lowered: Lowered, code: ObjectCode | None, hooks: CacheHooks
) -> tuple[NativeModule, ObjectCode]:
    """Quick code for `lowered` (`code`, or made now), loaded, and that code; its optimised
    code is made in the background, given to `hooks.store` (the compile cache) and then takes
    its calls over. If the process ends before that starts, the quick code itself is given to
    `hooks.park` (cached as quick code)."""
    from tc.codegen_llvm.objectcode import quick_object

    from . import compile_log

    if code is None:
        code = quick_object(lowered)
        for name, seconds in code.seconds.items():
            compile_log.record(name, seconds)
    else:
        compile_log.note("made earlier in this process")
    compile_log.note("quick code, optimised in the background once called enough")
    park = functools.partial(hooks.park, code)
    native = _deferring(code.data, lowered.entry_points, lambda: lowered, hooks, park, False)
    return native, code


def cached_quick_code(
    data: bytes, entries: dict[str, EntryPoint], lowered: Callable[[], Lowered], hooks: CacheHooks
) -> NativeModule:
    """Quick code a process before this one parked in the compile cache (`data`, the functions'
    `entries` reached through their dispatch stubs), loaded and checked; optimised as
    `quick_code`'s once called enough, from `lowered()` (its LLVM IR, read from the cache then)."""
    return _deferring(data, entries, lowered, hooks, lambda: None, True)


def _deferring(
    data: bytes,
    entries: dict[str, EntryPoint],
    lowered: Callable[[], Lowered],
    hooks: CacheHooks,
    park: Callable[[], None],
    check: bool,
) -> NativeModule:
    """Quick code (`data`, the functions' `entries` reached through their dispatch stubs)
    loaded, with its optimisation deferred; `park` caches the quick code."""
    from tc.codegen_llvm.symbols import EntryPoint, dispatch_symbol, next_slot

    from .object_cache import load_code

    stubs = {name: EntryPoint(dispatch_symbol(e.symbol), e.slot_ranks) for name, e in entries.items()}
    optimized: Promise[Mapping[str, str]] = Promise()
    deferred = Deferred(optimized, park)
    stages = LaterStages(lambda: lowered().text, deferred)
    native = load_code(data, stubs, stages, check=check)
    slots = {name: next_slot(entry.symbol) for name, entry in entries.items()}
    deferred.job = _Job(lowered, entries, weakref.ref(native), slots, hooks, optimized).run
    with _DEFERRED_LOCK:
        _DEFERRED[native] = deferred
    return native


class Deferred:
    """A quick module's optimisation, handed to the worker once (`start`): by its functions'
    calls (CompiledFunction.optimise_after), by finish_compiling, or when its optimised
    text is asked for."""

    def __init__(self, optimized: Promise[Mapping[str, str]], park: Callable[[], None]) -> None:
        self.job: Callable[[], None] | None = None
        self.optimized = optimized  # the optimised code's stages, set once it takes the calls
        self.park = park  # caches the quick code, if the process ends before the job starts
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            job, self.job = self.job, None
        if job is not None:
            start_library()  # its calls pay: so do the library's, which they make
            later(job, self.park)

    def finish(self) -> Mapping[str, str]:
        """Start the optimisation if it has not started, and wait until the optimised code
        takes the calls; its stages (raises what made the optimisation fail)."""
        self.start()
        with _urgent():
            return self.optimized.result()

    def finish_quietly(self) -> None:
        """`finish`, where a failed optimisation (the worker warned of it) leaves the quick code."""
        try:
            self.finish()
        except Exception:  # noqa: S110  (warned by the worker; the quick code answers)
            pass


# The quick modules still in use and their optimisation (a started one stays, `start` runs it once).
_DEFERRED: weakref.WeakKeyDictionary[NativeModule, Deferred] = weakref.WeakKeyDictionary()
_DEFERRED_LOCK = threading.Lock()


def optimise_when_called(native: NativeModule, function: CompiledFunction) -> None:
    """Have `function`'s calls start the optimisation of `native` if it is quick code."""
    with _DEFERRED_LOCK:
        deferred = _DEFERRED.get(native)
    if deferred is not None:
        function.optimise_after(
            deferred.start,
            OPTIMISE_AFTER_CALLS,
            OPTIMISE_AFTER_SECONDS,
            deferred.finish_quietly,
            OPTIMISE_FIRST_AT,
        )


def finish_compiling() -> None:
    """Wait until every function compiled so far and still in use runs its optimised code
    (tiered compilation makes quick code first for large modules, and their optimised code in
    the background once they are called enough)."""
    with _DEFERRED_LOCK:
        waiting = list(_DEFERRED.values())
        _DEFERRED.clear()
    start_library()
    for deferred in waiting:
        deferred.start()
    _wait_for_worker()
    write_pending()  # (the pass cache's entries and function records, written when it suits)


def _at_exit() -> None:
    """The process's end starts no LLVM work: the job under way finishes (LLVM must not be torn
    down under the worker), and the quick code of every module or library part whose
    optimisation has not started is cached as it is (parked). The next process loads that
    quick code and optimises it only if its own calls pay for that. (Optimising them at
    exit made a script's first run end 0.55 s late for ten small functions, 1.05 s for a
    product's library part.)"""
    with _DEFERRED_LOCK:
        waiting = list(_DEFERRED.values())
        _DEFERRED.clear()
    for deferred in waiting:
        with deferred._lock:
            pending = deferred.job is not None
            deferred.job = None
        if pending:
            _park(deferred.park)
    with _LIBRARY_LOCK:
        held = list(_LIBRARY_JOBS)
        _LIBRARY_JOBS.clear()
    for _, park in held:
        _park(park)
    with _PENDING_LOCK:
        queued = list(_PENDING)
    for item in queued:
        if item.claim("parked"):
            _park(item.park)
    _wait_for_worker()


def _park(park: Callable[[], None]) -> None:
    try:
        park()
    except Exception:  # noqa: S110  (a cache that cannot be written loses nothing)
        pass


def skip_pending() -> None:
    """Drop the optimisations not yet started: their modules stay quick code, which computes
    the same bits, and are not optimised at exit either (the test suite's functions, each
    called a few times, and kept alive by its caches)."""
    with _DEFERRED_LOCK:
        _DEFERRED.clear()


def wait_for_started() -> None:
    """Wait for the optimisations already started (by calls that paid for them, or asked
    for); start none: a module called once or twice stays quick code."""
    _wait_for_worker()


def _wait_for_worker() -> None:
    with _urgent():
        _QUEUE.join()


@contextmanager
def compiling() -> Iterator[None]:
    """A compilation in progress on this thread: the worker starts no job meanwhile, so that
    the compilation's own calls into LLVM (one at a time in a process) do not wait for it."""
    global _COMPILING
    with _GATE:
        _COMPILING += 1
    try:
        yield
    finally:
        with _GATE:
            _COMPILING -= 1
            _GATE.notify_all()


@contextmanager
def _urgent() -> Iterator[None]:
    """Someone waits for the worker's results (possibly inside a compilation): let it run."""
    global _WAITING
    with _GATE:
        _WAITING += 1
        _GATE.notify_all()
    try:
        yield
    finally:
        with _GATE:
            _WAITING -= 1


class LaterStages(Mapping[str, str]):
    """The LLVM stages of quick code: "llvm" (`text()`), "llvm-opt" (the optimised code's)
    once the worker has made it, waiting for it if asked for sooner."""

    def __init__(self, text: Callable[[], str], deferred: Deferred) -> None:
        self.text, self.deferred = text, deferred

    def __getitem__(self, name: str) -> str:
        if name == "llvm":
            return self.text()
        if name == "llvm-opt":
            return self.deferred.finish()["llvm-opt"]
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(("llvm", "llvm-opt"))

    def __len__(self) -> int:
        return 2


class _Job(NamedTuple):
    lowered: Callable[[], Lowered]
    entries: dict[str, EntryPoint]  # the functions' entry points in the optimised code
    quick: weakref.ref[NativeModule]
    slots: dict[str, str]  # function -> the dispatch slot of its entry in the quick code
    hooks: CacheHooks
    optimized: Promise[Mapping[str, str]]

    def run(self) -> None:
        from tc.codegen_llvm.loader import load_object
        from tc.codegen_llvm.objectcode import optimized_object

        if self.quick() is None:  # its functions are gone: nothing would run the code
            self.optimized.set_exception(RuntimeError("not optimised: its functions were freed first"))
            return
        try:
            native, stages = self._cached()
            if native is None:
                code = optimized_object(self.lowered())
                self.hooks.store(code)
                native, stages = load_object(code.data, self.entries, code.stages, check=False), code.stages
            quick = self.quick()
            if quick is not None:
                quick.adopt(native, self.slots)
        except Exception as error:
            self.optimized.set_exception(error)  # for whoever asks for the optimised text
            raise
        self.optimized.set_result(stages)

    def _cached(self) -> tuple[NativeModule | None, Mapping[str, str]]:
        """The optimised code another module of the same code (its graph compiled again) cached,
        loaded and checked; (None, {}) if there is none or it fails its check."""
        from tc.ir import TcCompilationError

        from .object_cache import load_code

        found = self.hooks.optimised()
        if found is None:
            return None, {}
        try:
            return load_code(found[0], self.entries, found[1]), found[1]
        except TcCompilationError:
            return None, {}


_QUEUE: queue.Queue[_Queued] = queue.Queue()
_WORKER: list[threading.Thread] = []
_WORKER_LOCK = threading.Lock()
_GATE = threading.Condition()
_COMPILING = 0  # compilations in progress (`compiling`)
_WAITING = 0  # threads waiting for the worker's results (`_urgent`)


class _Queued:
    """A job on the worker's queue, and what caches its quick code instead (`park`) if the
    process ends before the job starts: whichever claims it first runs."""

    def __init__(self, job: Callable[[], None], park: Callable[[], None]) -> None:
        self.job = job
        self.park = park
        self._state = "queued"
        self._lock = threading.Lock()

    def claim(self, state: str) -> bool:
        """Move from "queued" to `state` ("running" or "parked"); False if already moved."""
        with self._lock:
            if self._state != "queued":
                return False
            self._state = state
        with _PENDING_LOCK:
            _PENDING.discard(self)
        return True


_PENDING: set[_Queued] = set()  # queued jobs not yet claimed
_PENDING_LOCK = threading.Lock()


def later(job: Callable[[], None], park: Callable[[], None] = lambda: None) -> None:
    """Run `job` on the worker thread, after the jobs before it and outside compilations;
    `park` instead, if the process ends first."""
    with _WORKER_LOCK:
        if not _WORKER:
            worker = threading.Thread(target=_work, name="tc optimiser", daemon=True)
            _WORKER.append(worker)
            worker.start()
    item = _Queued(job, park)
    with _PENDING_LOCK:
        _PENDING.add(item)
    _QUEUE.put(item)


def _work() -> None:
    while True:
        item = _QUEUE.get()
        try:
            with _GATE:
                _GATE.wait_for(lambda: not _COMPILING or _WAITING)
            if item.claim("running"):
                item.job()
        except Exception as error:  # the quick code goes on answering the calls
            warnings.warn(f"tc: optimising in the background failed, quick code kept: {error}", stacklevel=1)
        finally:
            del item  # before waiting for the next: the quick code must not live on here
            _QUEUE.task_done()


atexit.register(_at_exit)
os.register_at_fork(before=_wait_for_worker)
