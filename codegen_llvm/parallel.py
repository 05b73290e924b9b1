"""Spread a loop over the host's cores, from generated code.

`parallel_for(module)` defines (once per module)

    i1 tc_parallel_for(i1 (i8**, i64, i64)* job, i8** args, i64 n, i64 grain)

which splits [0, n) into CHUNKS_PER_THREAD contiguous chunks per thread (each a multiple of
64 elements, so vector loops stay aligned to chunk starts) and runs them on the process's
thread pool (thread_pool.py, reached through the global POOL_GLOBAL the loader fills), the
calling thread claiming chunks as the workers do, and ORs the jobs' results. Below `grain`
elements per thread (GRAIN for plain arithmetic, less for a body that calls math
functions: kernel_body.py) it stays on one thread. Without a pool (POOL_GLOBAL null) every chunk
runs on the calling thread. Each element is computed by the same instructions whatever the
split, so results never depend on the thread count. `parallel_for(module, units=True)` is
the same over work items the caller has sized (a product's ranges of tiles, slices of a
batch): one item per thread at least, chunks of any length.
"""

from __future__ import annotations

from . import llvm_ir as ll
from .control import counted_loop
from .symbols import POOL_GLOBAL, THREADS_GLOBAL
from .types import I1, I8_PTR, I32, I64

GRAIN = 1 << 15  # elements per thread below which a second thread (a few microseconds) does not pay
MIN_GRAIN = 1 << 12  # ... whatever the body's cost
MAX_THREADS = 64
# Chunks a thread (products pass one range of tiles per thread: small_gemm.run_blocks). A thread
# that loses its core for a while (to another process, or to BLAS's spinning threads) then
# holds up a quarter of its share, not all of it: with one chunk a thread, the activation
# max(0.1x, x) * sigmoid(x) + tanh(x) over 2^22 float64 took 6.1-6.8 ms (median) while a busy
# loop ran on one of 2 cores, against 5.0-5.4 ms so; 2.6-4.6 ms either way on an idle machine.
CHUNKS_PER_THREAD = 4

JOB_TYPE = ll.FunctionType(I1, [I8_PTR.as_pointer(), I64, I64])
# i1 tc_pool_run(job, args, i64* bounds, i64 chunks, i64 threads): thread_pool.py
POOL_RUN_TYPE = ll.FunctionType(I1, [JOB_TYPE.as_pointer(), I8_PTR.as_pointer(), I64.as_pointer(), I64, I64])


def parallel_for(module: ll.Module, units: bool = False) -> ll.Function:
    """tc_parallel_for over elements (at least `grain` per thread, chunks a multiple of 64, as
    many threads as the module's THREADS_GLOBAL), or, with `units`,

        i1 tc_parallel_units(job, args, i64 n, i64 threads)

    over work items the caller has sized (ranges of tiles, slices of a batch) on at most
    `threads` threads: one item per thread at least, chunks of any length."""
    name = "tc_parallel_units" if units else "tc_parallel_for"
    existing = module.globals.get(name)
    if isinstance(existing, ll.Function):
        return existing
    align = 1 if units else 64
    pool = module_global(module, POOL_GLOBAL, I8_PTR, None)
    parameters = [JOB_TYPE.as_pointer(), I8_PTR.as_pointer(), I64, I64]
    fn = ll.Function(module, ll.FunctionType(I1, parameters), name)
    fn.linkage = "internal"
    job, args, n, last = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    wanted = last if units else b.load(module_global(module, THREADS_GLOBAL, I64, I64(1)))
    by_size = n if units else b.sdiv(n, last)
    count = b.select(b.icmp_signed("<", wanted, by_size), wanted, by_size)
    count = b.select(b.icmp_signed(">", count, I64(MAX_THREADS)), I64(MAX_THREADS), count)
    run = b.load(pool)
    single = b.or_(b.icmp_signed("<=", count, I64(1)), b.icmp_unsigned("==", run, ll.Constant(I8_PTR, None)))
    serial_block = fn.append_basic_block("serial")
    threaded_block = fn.append_basic_block("threaded")
    b.cbranch(single, serial_block, threaded_block)

    b.position_at_end(serial_block)
    b.ret(b.call(job, [args, I64(0), n]))

    b.position_at_end(threaded_block)
    bounds = b.alloca(I64, size=I32(CHUNKS_PER_THREAD * MAX_THREADS + 1), name="bounds")
    # Cut finer than one chunk per thread (CHUNKS_PER_THREAD); work items at most one a chunk.
    chunks = b.mul(count, I64(CHUNKS_PER_THREAD))
    chunks = _min(b, n, chunks) if units else chunks
    # chunk = round_up(ceil(n / chunks), align); bounds[t] = min(t * chunk, n)
    chunk = b.sdiv(b.add(n, b.sub(chunks, I64(1))), chunks)
    chunk = b.and_(b.add(chunk, I64(align - 1)), I64(~(align - 1)))
    with counted_loop(b, b.add(chunks, I64(1)), "bounds") as t:
        b.store(_min(b, b.mul(t, chunk), n), b.gep(bounds, [t]))
    b.ret(b.call(b.bitcast(run, POOL_RUN_TYPE.as_pointer()), [job, args, bounds, chunks, count]))
    return fn


def thread_count(b: ll.IRBuilder) -> ll.Value:
    """How many threads the module's loops may use (THREADS_GLOBAL, set by the runtime)."""
    return b.load(module_global(b.module, THREADS_GLOBAL, I64, I64(1)))


def module_global(
    module: ll.Module, name: str, kind: ll.Type, value: ll.Constant | None
) -> ll.GlobalVariable:
    """The module's global `name`, made (with `value`, or zero) if it has none yet."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    glob = ll.GlobalVariable(module, kind, name)
    glob.initializer = value if value is not None else ll.Constant(kind, None)
    return glob


def _min(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)
