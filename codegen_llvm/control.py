"""Control-flow building blocks for generated code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from . import llvm_ir as ll
from .types import I32, I64

# Loop options for runs known to be short (a softmax's rows of 10): the vectoriser folds the
# remainder into masked vector iterations, so a short run is one or two of them instead of a
# scalar epilogue (LangRef: llvm.loop.vectorize.predicate.enable). Rows of 10 float32: the
# exp of a softmax 9.4 -> 3.7 us for 600 rows (AVX-512). (Elementwise kernels that call math
# functions run short rows as blocks of elements instead: loops._short_rows.)
SHORT_RUNS = {"llvm.loop.vectorize.predicate.enable": 1}
# ... for loops that store, where the host has AVX2 but not AVX-512: its masked stores
# (vmaskmov) are microcoded on AMD's cores, so one plain vector iteration, not four
# interleaved, and a scalar remainder. Rows of 10 float32 (600 rows) minus a per-row
# maximum 19.0 -> 13.0 us, their exp 27.9 -> 22.9 us (AMD EPYC, AVX2).
SHORT_STORING_RUNS_AVX2 = {"llvm.loop.interleave.count": 1}


def short_storing_runs() -> dict[str, int]:
    """The loop options of a short run that stores its results, for the host."""
    from .jit import host_features

    return SHORT_RUNS if "+avx512f" in host_features().split(",") else SHORT_STORING_RUNS_AVX2


SHORT_RUN = 32  # elements; from 64 on the plain vector loop measured faster (the masks' cost)
# Loop options for the long vectorisable runs of elementwise kernels: four vector iterations
# interleaved. The vectoriser's cost model leaves a large body (exp, tanh, log in a few dozen
# dependent operations) at one, where each iteration waits on the latency of its own chain:
# 2^22 float64 sigmoids 20 -> 7.5 ms, tanh 20 -> 8 ms, log 14 -> 6 ms, float32 1.2-1.4x;
# a copy-like x * 2 + y unchanged (bench: python bench/elementwise.py).
LONG_RUNS = {"llvm.loop.interleave.count": 4}


@contextmanager
def counted_loop(
    builder: ll.IRBuilder,
    count: ll.Value,
    name: str,
    start: ll.Value | None = None,
    hints: dict[str, int] | None = None,
) -> Iterator[ll.Value]:
    """for (i = start; i < count; ++i) { <body> }; `hints` are llvm.loop.* options for
    LLVM's loop passes, e.g. {"llvm.loop.vectorize.predicate.enable": 1}."""
    with exitable_loop(builder, count, name, start) as (index, _):
        yield index
        last = builder.block  # exitable_loop ends it with the branch back to the header
    if hints:
        last.terminator.set_metadata("llvm.loop", _LoopID(builder.module, hints))


class _LoopID(ll.values.MDValue):
    """A loop's distinct, self-referencing metadata node holding its options (LangRef's
    `!llvm.loop`), which the uniqued `add_metadata` nodes cannot express."""

    def __init__(self, module: ll.Module, hints: dict[str, int]) -> None:
        options = [module.add_metadata([ll.MetaDataString(module, k), I32(v)]) for k, v in hints.items()]
        super().__init__(module, options, name=str(len(module.metadata)))

    def descr(self, buf: list[str]) -> None:
        refs = ", ".join([self.get_reference(), *(op.get_reference() for op in self.operands)])
        buf += (f"distinct !{{ {refs} }}", "\n")

    __hash__ = object.__hash__


@contextmanager
def exitable_loop(
    builder: ll.IRBuilder, count: ll.Value, name: str, start: ll.Value | None = None
) -> Iterator[tuple[ll.Value, Callable[[ll.Value], None]]]:
    """for (i = start; i < count; ++i) { <body> }, where the body may call `exit_if(c)`:
    if (c) break;"""
    before = builder.block
    header = builder.append_basic_block(f"{name}.header")
    body = builder.append_basic_block(f"{name}.body")
    done = builder.append_basic_block(f"{name}.done")
    builder.branch(header)
    builder.position_at_end(header)
    index = builder.phi(I64, name=f"{name}.i")
    index.add_incoming(start if start is not None else I64(0), before)
    builder.cbranch(builder.icmp_signed("<", index, count), body, done)
    builder.position_at_end(body)

    def exit_if(condition: ll.Value) -> None:
        going_on = builder.append_basic_block(f"{name}.continue")
        builder.cbranch(condition, done, going_on)
        builder.position_at_end(going_on)

    yield index, exit_if
    following = builder.add(index, I64(1), name=f"{name}.next", flags=["nsw"])
    index.add_incoming(following, builder.block)
    builder.branch(header)
    builder.position_at_end(done)
