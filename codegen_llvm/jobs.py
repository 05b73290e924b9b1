"""Kernel bodies and how a loop over [0, total) runs on the cores.

A loop function takes (begin, end, extra integers..., pointers...) and returns whether an
element asked for exact math; `job_function` wraps it in the (args, begin, end) signature
`tc_parallel_for` calls, and `launch` runs it over the cores with the fast body, then the
whole range again on this thread with the exact body if any element asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from . import llvm_ir as ll
from .parallel import GRAIN, JOB_TYPE
from .target import host_of
from .types import I1, I8_PTR, I32, I64

# values -> (results, needs_exact flag or None)
FastBody = Callable[[ll.IRBuilder, list[ll.Value]], tuple[list[ll.Value], ll.Value | None]]
ExactBody = Callable[[ll.IRBuilder, list[ll.Value]], list[ll.Value]]


class KernelBody:
    """A kernel's element code: `fast`, and `exact` where `fast` can ask for it (`has_fallback`);
    `grain`: the elements a thread must have before a second one pays (parallel.py). (A plain
    class: defining a typing.NamedTuple cost an empty cache's first compile 0.08 ms.)"""

    __slots__ = ("fast", "exact", "has_fallback", "grain")

    def __init__(self, fast: FastBody, exact: ExactBody, has_fallback: bool, grain: int = GRAIN) -> None:
        self.fast, self.exact, self.has_fallback, self.grain = fast, exact, has_fallback, grain


def launch(
    builder: ll.IRBuilder,
    name: str,
    kind: str,
    make_loop: Callable[[str, FastBody], ll.Function],
    pointers: Sequence[ll.Value],
    total: ll.Value,
    body: KernelBody,
    extra: Sequence[ll.Value] = (),
) -> None:
    """Run the loop over [0, total) on the cores with the fast body; if any element asks
    for exact math, run the whole range again with the exact body on this thread.

    `make_loop(name, body)` builds the loop function (`kind` flat, or rows: then `extra` is
    the row length and the column operands' periods, its arguments before the pointers)."""
    module = builder.module
    fast = make_loop(f"{name}.{kind}", body.fast)
    # Called from two places (below, and from the job); one copy of it compiles faster.
    fast.attributes.add("noinline")
    job = job_function(module, f"{name}.job", fast, len(pointers), extras=len(extra))

    def typed(loop: ll.Function) -> list[ll.Value]:
        loop_pointers = loop.args[2 + len(extra) :]
        return [builder.bitcast(p, arg.type) for p, arg in zip(pointers, loop_pointers, strict=True)]

    # Work for one thread (a scan step's few elements) calls its loop directly: through
    # tc_parallel_for and the job, a trivial scan step over 16 floats took 4.6 ns, now 3.2.
    one_thread = builder.icmp_signed("<", total, I64(2 * body.grain))
    with builder.if_else(one_thread) as (serial, threaded):
        with serial:
            inexact_serial = builder.call(fast, [I64(0), total, *extra, *typed(fast)])
            serial_end = builder.block
        with threaded:
            # in the entry block: a loop may run this launch (a convolution's epilogue per image)
            with builder.goto_entry_block():
                args = builder.alloca(I8_PTR, size=I32(len(pointers) + len(extra)))
            for index, pointer in enumerate(pointers):
                builder.store(builder.bitcast(pointer, I8_PTR), builder.gep(args, [I32(index)]))
            for index, value in enumerate(extra, start=len(pointers)):
                builder.store(builder.inttoptr(value, I8_PTR), builder.gep(args, [I32(index)]))
            inexact_threaded = host_of(module).parallel_for(builder, job, args, total, grain=body.grain)
            threaded_end = builder.block
    inexact = builder.phi(I1)
    inexact.add_incoming(inexact_serial, serial_end)
    inexact.add_incoming(inexact_threaded, threaded_end)
    if body.has_fallback:
        exact = make_loop(f"{name}.exact", lambda b, values: (body.exact(b, values), None))
        with builder.if_then(inexact, likely=False):
            builder.call(exact, [I64(0), total, *extra, *typed(exact)])


def job_function(module: ll.Module, name: str, flat: ll.Function, count: int, extras: int = 0) -> ll.Function:
    """The (args, begin, end) signature tc_parallel_for calls, unpacking the pointers
    (and, for a rows function, the `extras` integers stored after them)."""
    fn = ll.Function(module, JOB_TYPE, module.get_unique_name(name))
    fn.linkage = "internal"
    args, begin, end = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    first = 2 + extras
    pointers = [b.bitcast(b.load(b.gep(args, [I32(i)])), flat.args[first + i].type) for i in range(count)]
    extra = [b.ptrtoint(b.load(b.gep(args, [I32(count + i)])), I64) for i in range(extras)]
    b.ret(b.call(flat, [begin, end, *extra, *pointers]))
    return fn
