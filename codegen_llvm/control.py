"""Control-flow building blocks for generated code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from llvmlite import ir as ll

from .types import I64


@contextmanager
def counted_loop(
    builder: ll.IRBuilder, count: ll.Value, name: str, start: ll.Value | None = None
) -> Iterator[ll.Value]:
    """for (i = start; i < count; ++i) { <body> }"""
    with exitable_loop(builder, count, name, start) as (index, _):
        yield index


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
