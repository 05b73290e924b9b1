"""Spread a flat loop over the host's cores with pthreads, from generated code.

`parallel_for(module)` defines (once per module)

    i1 tc_parallel_for(i1 (i8**, i64, i64)* job, i8** args, i64 n)

which splits [0, n) into one contiguous chunk per thread (a multiple of 64
elements, so vector loops stay aligned to chunk starts), runs chunk 0 on the
calling thread and the others on new threads, joins them and ORs the jobs'
results. Below GRAIN elements per thread it stays on one thread: a thread
costs tens of microseconds. Each element is computed by the same
instructions whatever the split, so results never depend on the thread
count. If a thread cannot be created its chunk runs on the caller.
"""

from __future__ import annotations

from llvmlite import ir as ll

from .control import counted_loop
from .symbols import THREADS_GLOBAL
from .types import I1, I8, I8_PTR, I32, I64

GRAIN = 1 << 18  # elements per thread below which a new thread (tens of microseconds, and a core
# that BLAS's own threads may be spinning on) does not pay
MAX_THREADS = 64

JOB_TYPE = ll.FunctionType(I1, [I8_PTR.as_pointer(), I64, I64])
# { job, args, begin, end, result }
TASK_TYPE = ll.LiteralStructType([JOB_TYPE.as_pointer(), I8_PTR.as_pointer(), I64, I64, I8])


def parallel_for(module: ll.Module) -> ll.Function:
    existing = module.globals.get("tc_parallel_for")
    if isinstance(existing, ll.Function):
        return existing
    threads = ll.GlobalVariable(module, I64, THREADS_GLOBAL)
    threads.initializer = I64(1)
    worker = _worker(module)
    fn = ll.Function(
        module, ll.FunctionType(I1, [JOB_TYPE.as_pointer(), I8_PTR.as_pointer(), I64]), "tc_parallel_for"
    )
    fn.linkage = "internal"
    job, args, n = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    wanted = b.load(threads)
    by_size = b.sdiv(n, I64(GRAIN))
    count = b.select(b.icmp_signed("<", wanted, by_size), wanted, by_size)
    count = b.select(b.icmp_signed(">", count, I64(MAX_THREADS)), I64(MAX_THREADS), count)
    single = b.icmp_signed("<=", count, I64(1))
    serial_block = fn.append_basic_block("serial")
    threaded_block = fn.append_basic_block("threaded")
    b.cbranch(single, serial_block, threaded_block)

    b.position_at_end(serial_block)
    b.ret(b.call(job, [args, I64(0), n]))

    b.position_at_end(threaded_block)
    tasks = b.alloca(TASK_TYPE, size=I32(MAX_THREADS), name="tasks")
    tids = b.alloca(I64, size=I32(MAX_THREADS), name="tids")
    started = b.alloca(I8, size=I32(MAX_THREADS), name="started")
    # chunk = round_up(ceil(n / count), 64)
    chunk = b.sdiv(b.add(n, b.sub(count, I64(1))), count)
    chunk = b.and_(b.add(chunk, I64(63)), I64(~63))
    pthread_create = _declare(module, "pthread_create", I32, [I64.as_pointer(), I8_PTR, worker.type, I8_PTR])
    pthread_join = _declare(module, "pthread_join", I32, [I64, I8_PTR.as_pointer()])
    with counted_loop(b, b.sub(count, I64(1)), "spawn") as i:
        t = b.add(i, I64(1))
        begin = _min(b, b.mul(t, chunk), n)
        end = _min(b, b.add(begin, chunk), n)
        task = b.gep(tasks, [t])
        for index, value in enumerate([job, args, begin, end, I8(0)]):
            b.store(value, b.gep(task, [I32(0), I32(index)]))
        rc = b.call(
            pthread_create, [b.gep(tids, [t]), ll.Constant(I8_PTR, None), worker, b.bitcast(task, I8_PTR)]
        )
        ok = b.icmp_signed("==", rc, I32(0))
        b.store(b.zext(ok, I8), b.gep(started, [t]))
        with b.if_then(b.not_(ok)):
            b.call(worker, [b.bitcast(task, I8_PTR)])  # no thread: do its share here
    first = b.call(job, [args, I64(0), _min(b, chunk, n)])
    result = b.alloca(I1)
    b.store(first, result)
    with counted_loop(b, b.sub(count, I64(1)), "join") as i:
        t = b.add(i, I64(1))
        was_started = b.icmp_unsigned("!=", b.load(b.gep(started, [t])), I8(0))
        with b.if_then(was_started):
            b.call(pthread_join, [b.load(b.gep(tids, [t])), ll.Constant(I8_PTR.as_pointer(), None)])
        flag = b.load(b.gep(tasks, [t, I32(4)]))
        b.store(b.or_(b.load(result), b.icmp_unsigned("!=", flag, I8(0))), result)
    b.ret(b.load(result))
    return fn


def _worker(module: ll.Module) -> ll.Function:
    fn = ll.Function(module, ll.FunctionType(I8_PTR, [I8_PTR]), "tc_parallel_worker")
    fn.linkage = "internal"
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    task = b.bitcast(fn.args[0], TASK_TYPE.as_pointer())
    job, args, begin, end = (b.load(b.gep(task, [I32(0), I32(i)])) for i in range(4))
    flag = b.call(job, [args, begin, end])
    b.store(b.zext(flag, I8), b.gep(task, [I32(0), I32(4)]))
    b.ret(ll.Constant(I8_PTR, None))
    return fn


def _declare(module: ll.Module, name: str, ret: ll.Type, args: list[ll.Type]) -> ll.Function:
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    return ll.Function(module, ll.FunctionType(ret, args), name)


def _min(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)
