"""One pool of worker threads per process, in native code, for every module's parallel loops.

Creating a thread and joining it costs about 35 microseconds here, as much as a whole
20 x 784 x 500 product; the pool's workers instead wait between loops, first spinning for a
little while (loops follow each other within microseconds in a train step), then asleep on a
futex, costing nothing. Its code is part of the support library (support.py), compiled once per
process into a module that is never freed (a worker's instructions must outlive every
compiled function); each loaded module gets its address in the global POOL_GLOBAL (see
parallel.py, which calls it):

    i1 tc_pool_run(i1 (i8**, i64, i64)* job, i8** args, i64* bounds, i64 count,
                   i64 threads)

runs job(args, bounds[t], bounds[t + 1]) for every t < count on at most `threads` threads
and returns the OR of the results. The caller and the workers claim chunks from one atomic
counter, so a worker that is asleep or not scheduled leaves its share to whoever runs: a
busy machine is never slower than one thread. One loop runs on the pool at a time: a caller
that finds it busy (another Python thread inside tc) runs its chunks itself. After a fork
the child starts workers of its own.

Linux only (futex); elsewhere tc_pool_run runs every chunk on the calling thread.
"""

from __future__ import annotations

import sys

from . import llvm_ir as ll
from .control import counted_loop
from .parallel import JOB_TYPE
from .parallel import POOL_RUN_TYPE as RUN_TYPE
from .types import I1, I8, I8_PTR, I32, I64, declare

POOL_FUNCTION = "tc_pool_run"
SPINS = 1 << 14  # pauses a worker spins before sleeping: on the order of 100 microseconds
MAX_WORKERS = 63
_FUTEX_WAIT_PRIVATE, _FUTEX_WAKE_PRIVATE = 128, 129
_FUTEX_SYSCALL = {"x86_64": 202, "aarch64": 98}


def _architecture(triple: str) -> str:
    return triple.split("-", 1)[0]


def supported(triple: str) -> bool:
    return sys.platform.startswith("linux") and _architecture(triple) in _FUTEX_SYSCALL


class _Globals:
    def __init__(self, module: ll.Module) -> None:
        def variable(name: str, kind: ll.Type) -> ll.GlobalVariable:
            glob = ll.GlobalVariable(module, kind, f"tc_pool.{name}")
            glob.linkage = "internal"
            glob.initializer = ll.Constant(kind, None)
            return glob

        self.busy = variable("busy", I32)
        self.pid = variable("pid", I32)
        self.workers = variable("workers", I64)
        self.generation = variable("generation", I32)  # the futex workers sleep on
        self.sleeping = variable("sleeping", I32)
        self.next = variable("next", I64)  # generation << 32 | the next chunk to claim
        self.done = variable("done", I64)  # chunks finished in the current loop
        self.result = variable("result", I8)
        self.job = variable("job", JOB_TYPE.as_pointer())
        self.args = variable("args", I8_PTR.as_pointer())
        self.bounds = variable("bounds", I64.as_pointer())
        self.count = variable("count", I64)


def add_pool(module: ll.Module, triple: str) -> ll.Function:
    """Define tc_pool_run in `module` (the support library); on a host without futexes, one
    that runs every chunk on the calling thread."""
    if not supported(triple):
        return _serial_run(module)
    state = _Globals(module)
    worker = _worker(module, state, triple)
    return _run(module, state, worker, triple)


def _serial_run(module: ll.Module) -> ll.Function:
    fn = ll.Function(module, RUN_TYPE, POOL_FUNCTION)
    job, args, bounds, count, _ = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    result = b.alloca(I1)
    b.store(ll.Constant(I1, 0), result)
    with counted_loop(b, count, "pool.serial") as t:
        b.store(b.or_(b.load(result), _run_chunk(b, job, args, bounds, t)), result)
    b.ret(b.load(result))
    return fn


def _pause(b: ll.IRBuilder, triple: str) -> None:
    if _architecture(triple) == "x86_64":
        b.call(declare(b.module, "llvm.x86.sse2.pause", ll.VoidType(), []), [])
    else:
        b.call(declare(b.module, "llvm.aarch64.hint", ll.VoidType(), [I32]), [I32(1)])  # yield


def _futex(b: ll.IRBuilder, triple: str, word: ll.Value, operation: int, value: ll.Value) -> None:
    syscall = declare(b.module, "syscall", I64, [I64], var_arg=True)
    number = I64(_FUTEX_SYSCALL[_architecture(triple)])
    b.call(syscall, [number, word, I32(operation), value, ll.Constant(I8_PTR, None)])


def _run_chunk(b: ll.IRBuilder, job: ll.Value, args: ll.Value, bounds: ll.Value, t: ll.Value) -> ll.Value:
    begin = b.load(b.gep(bounds, [t]))
    end = b.load(b.gep(bounds, [b.add(t, I64(1))]))
    return b.call(job, [args, begin, end])


def _worker(module: ll.Module, state: _Globals, triple: str) -> ll.Function:
    """void* worker(index): run chunk `index` of every loop published, until the process ends."""
    fn = ll.Function(module, ll.FunctionType(I8_PTR, [I8_PTR]), "tc_pool.worker")
    fn.linkage = "internal"
    index = fn.args[0]
    entry = fn.append_basic_block("entry")
    wait = fn.append_basic_block("wait")
    spin = fn.append_basic_block("spin")
    sleep = fn.append_basic_block("sleep")
    work = fn.append_basic_block("work")
    b = ll.IRBuilder(entry)
    packed = b.ptrtoint(index, I64)  # the worker's number, and above it the generation it starts at
    seen_slot, spins_slot = b.alloca(I32), b.alloca(I64)
    b.store(b.trunc(b.lshr(packed, I64(32)), I32), seen_slot)
    b.store(I64(0), spins_slot)
    b.branch(wait)

    b.position_at_end(wait)
    current = b.load_atomic(state.generation, "acquire", 4)
    b.cbranch(b.icmp_unsigned("!=", current, b.load(seen_slot)), work, spin)

    b.position_at_end(spin)
    spins = b.load(spins_slot)
    b.store(b.add(spins, I64(1)), spins_slot)
    _pause(b, triple)
    b.cbranch(b.icmp_signed("<", spins, I64(SPINS)), wait, sleep)

    b.position_at_end(sleep)
    b.atomic_rmw("add", state.sleeping, I32(1), "seq_cst")
    # returns at once if the generation has moved on since it was seen
    _futex(b, triple, state.generation, _FUTEX_WAIT_PRIVATE, b.load(seen_slot))
    b.atomic_rmw("sub", state.sleeping, I32(1), "seq_cst")
    b.store(I64(0), spins_slot)
    b.branch(wait)

    b.position_at_end(work)
    b.store(current, seen_slot)
    b.store(I64(0), spins_slot)
    job, args, bounds, count = (b.load(g) for g in (state.job, state.args, state.bounds, state.count))
    _claim_chunks(b, state, (job, args, bounds, count), b.zext(current, I64))
    b.branch(wait)
    return fn


def _claim_chunks(b: ll.IRBuilder, state: _Globals, loop: tuple, generation: ll.Value) -> None:  # type: ignore[type-arg]
    """Claim chunks of the loop of `generation` and run them until none is left. A thread
    that comes late (asleep, or not scheduled) finds them all claimed: whoever is running
    does the work, so a busy machine never waits for a thread that is not running."""
    job, args, bounds, count = loop
    fn = b.function
    claim = fn.append_basic_block("claim")
    run = fn.append_basic_block("claim.run")
    done = fn.append_basic_block("claim.done")
    b.branch(claim)
    b.position_at_end(claim)
    word = b.load_atomic(state.next, "acquire", 8)
    index = b.and_(word, I64(0xFFFFFFFF))
    ours = b.icmp_unsigned("==", b.lshr(word, I64(32)), generation)
    left = b.and_(ours, b.icmp_signed("<", index, count))
    with b.if_then(left):
        claimed = b.cmpxchg(state.next, word, b.add(word, I64(1)), "acq_rel", "monotonic")
        b.cbranch(b.extract_value(claimed, 1), run, claim)
    b.branch(done)
    b.position_at_end(run)
    flag = _run_chunk(b, job, args, bounds, index)
    with b.if_then(flag):
        b.atomic_rmw("or", state.result, I8(1), "seq_cst")
    b.atomic_rmw("add", state.done, I64(1), "release")
    b.branch(claim)
    b.position_at_end(done)


def _run(module: ll.Module, state: _Globals, worker: ll.Function, triple: str) -> ll.Function:
    fn = ll.Function(module, RUN_TYPE, POOL_FUNCTION)
    job, args, bounds, count, threads = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    result = b.alloca(I1)
    b.store(ll.Constant(I1, 0), result)

    def serial(first: ll.Value) -> None:
        with counted_loop(b, count, "pool.serial", start=first) as t:
            b.store(b.or_(b.load(result), _run_chunk(b, job, args, bounds, t)), result)

    claimed = b.cmpxchg(state.busy, I32(0), I32(1), "acquire", "monotonic")
    with b.if_else(b.extract_value(claimed, 1)) as (owned, busy):
        with busy:
            serial(I64(0))
        with owned:
            _start_workers(b, state, worker, b.sub(threads, I64(1)))
            b.store(job, state.job)
            b.store(args, state.args)
            b.store(bounds, state.bounds)
            b.store(count, state.count)
            b.store(I8(0), state.result)
            b.store(I64(0), state.done)
            generation = b.add(b.load(state.generation), I32(1))
            b.store_atomic(b.shl(b.zext(generation, I64), I64(32)), state.next, "seq_cst", 8)
            b.store_atomic(generation, state.generation, "seq_cst", 4)
            asleep = b.load_atomic(state.sleeping, "seq_cst", 4)
            with b.if_then(b.icmp_signed(">", asleep, I32(0))):
                _futex(b, triple, state.generation, _FUTEX_WAKE_PRIVATE, I32(2**31 - 1))
            _claim_chunks(b, state, (job, args, bounds, count), b.zext(generation, I64))
            _wait_for_chunks(b, state, count, triple)
            b.store(b.icmp_unsigned("!=", b.load(state.result), I8(0)), result)
            b.store_atomic(I32(0), state.busy, "release", 4)
    b.ret(b.load(result))
    return fn


def _wait_for_chunks(b: ll.IRBuilder, state: _Globals, count: ll.Value, triple: str) -> None:
    """Until every chunk claimed by a worker has finished: spin, then give the core away."""
    fn = b.function
    spins = b.alloca(I64)
    b.store(I64(0), spins)
    check = fn.append_basic_block("pool.wait")
    again = fn.append_basic_block("pool.pause")
    done = fn.append_basic_block("pool.done")
    b.branch(check)
    b.position_at_end(check)
    finished = b.load_atomic(state.done, "acquire", 8)
    b.cbranch(b.icmp_signed("<", finished, count), again, done)
    b.position_at_end(again)
    spun = b.load(spins)
    b.store(b.add(spun, I64(1)), spins)
    with b.if_else(b.icmp_signed("<", spun, I64(SPINS))) as (short, long):
        with short:
            _pause(b, triple)
        with long:
            b.call(declare(b.module, "sched_yield", I32, []), [])
    b.branch(check)
    b.position_at_end(done)


def _start_workers(b: ll.IRBuilder, state: _Globals, worker: ll.Function, wanted: ll.Value) -> None:
    """Start workers until there are `wanted` (at most MAX_WORKERS); forget the parent's after
    a fork."""
    module = b.module
    getpid = declare(module, "getpid", I32, [])
    pid = b.call(getpid, [])
    with b.if_then(b.icmp_signed("!=", pid, b.load(state.pid))):
        b.store(pid, state.pid)
        b.store(I64(0), state.workers)
    wanted = b.select(b.icmp_signed(">", wanted, I64(MAX_WORKERS)), I64(MAX_WORKERS), wanted)
    create = declare(module, "pthread_create", I32, [I64.as_pointer(), I8_PTR, worker.type, I8_PTR])
    detach = declare(module, "pthread_detach", I32, [I64])
    tid = b.alloca(I64)
    fn = b.function
    check = fn.append_basic_block("pool.start")
    start = fn.append_basic_block("pool.create")
    done = fn.append_basic_block("pool.started")
    b.branch(check)
    b.position_at_end(check)
    have = b.load(state.workers)
    b.cbranch(b.icmp_signed("<", have, wanted), start, done)
    b.position_at_end(start)
    generation = b.zext(b.load(state.generation), I64)
    index = b.inttoptr(b.or_(b.add(have, I64(1)), b.shl(generation, I64(32))), I8_PTR)
    rc = b.call(create, [tid, ll.Constant(I8_PTR, None), worker, index])
    created = b.icmp_signed("==", rc, I32(0))
    with b.if_then(created):
        b.call(detach, [b.load(tid)])
        b.store(b.add(have, I64(1)), state.workers)
    b.cbranch(created, check, done)
    b.position_at_end(done)
