"""Loops over the grid: every GPU kernel's outer iteration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..codegen_llvm import llvm_ir as ll
from ..codegen_llvm.types import I64
from .grid import KernelTarget


@contextmanager
def grid_stride_loop(target: KernelTarget, b: ll.IRBuilder, count: ll.Value, name: str) -> Iterator[ll.Value]:
    """for (i = global thread; i < count; i += threads in the grid) { <body> }

    Correct for any grid size: the runtime picks the grid for speed alone.
    """
    start = target.global_thread(b)
    step = target.thread_count(b)
    before = b.block
    header = b.append_basic_block(f"{name}.header")
    body = b.append_basic_block(f"{name}.body")
    done = b.append_basic_block(f"{name}.done")
    b.branch(header)
    b.position_at_end(header)
    index = b.phi(I64, name=f"{name}.i")
    index.add_incoming(start, before)
    b.cbranch(b.icmp_unsigned("<", index, count), body, done)
    b.position_at_end(body)
    yield index
    index.add_incoming(b.add(index, step), b.block)
    b.branch(header)
    b.position_at_end(done)


def mark_noalias(fn: ll.Function) -> None:
    """No two buffers of one launch overlap (the runtime gives every result a fresh buffer):
    `noalias` lets the loads use the read-only data cache."""
    for arg in fn.args:
        if isinstance(arg.type, ll.PointerType):
            arg.add_attribute("noalias")
