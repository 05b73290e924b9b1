"""Reductions spread over the cores, with one thread's result: a whole array's run of
blocks, the rows of a row-wise reduction, or the columns of a column-wise one.

The contiguous run of a reduction of every axis (a whole-array sum, the L1 and L2 norms of
a weight matrix) longer than a block is cut into the blocks one thread would cut it into
(reduce_walk.BLOCK), ROUND_BLOCKS at a time. In a round, each block's value
(`Walk.block_values`: its elements combined in lanes, widened) is computed by whichever
thread of the pool takes it, into a stack slot of its own; the calling thread then adds
the round's slots to the totals in block order, as a one-thread loop adds its blocks.
Every block is computed by the same instructions and the totals see the same values in
the same order, so the result is the same bits on any number of threads. Runs shorter
than SPREAD_AT elements call the same job on the calling thread alone.

A reduction whose innermost axis is kept (a matrix's column sums) gives each thread one
contiguous range of columns, at least COLUMNS_PER_THREAD wide, and the whole walk over
the reduced axes within it: each slot takes its contributions from one thread, in row
order. (Ranges of 64 columns, handed out in turn, walked the rows in short pieces and
were no faster than one thread.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import llvm_ir as ll
from .control import counted_loop
from .gemm import at_least_1, entry_alloca
from .outline import outlined_job
from .parallel import module_global
from .symbols import THREADS_GLOBAL
from .types import I8, I64, load_element, store_element

if TYPE_CHECKING:
    from .reduce_walk import Totals, Walk

# Elements of a run from which its blocks are spread: 64 blocks, 256 KiB of float32. Below
# that a second thread's start costs about as much as its share of the work.
SPREAD_AT = 1 << 16
ROUND_BLOCKS = 512  # blocks per round: 4 KiB of 8-byte slots per member on the stack
SLOT = 8
# The narrowest range of columns a thread takes, a multiple of a cache line's float32s and
# float64 slots: each thread then reads 2 KiB runs of float32 or more from every row.
COLUMNS_PER_THREAD = 512


def spread_blocks(walk: Walk, pointers: list[ll.Value], totals: Totals, count: ll.Value) -> None:
    """Add the contiguous run at `pointers` (`count` elements) to `totals`, block by block."""
    from .reduce_walk import BLOCK

    b = walk.b
    threads = _threads_for(b, [count])
    blocks = b.udiv(b.add(count, I64(BLOCK - 1)), I64(BLOCK))
    width, wide = len(walk.members), walk.wide_dtypes
    slots = b.bitcast(entry_alloca(b, ll.ArrayType(I8, ROUND_BLOCKS * width * SLOT)), I8.as_pointer())

    def place(j: ll.Value, member: int) -> ll.Value:
        return b.gep(slots, [b.mul(b.add(b.mul(j, I64(width)), I64(member)), I64(SLOT))])

    rounds = b.udiv(b.add(blocks, I64(ROUND_BLOCKS - 1)), I64(ROUND_BLOCKS))
    with counted_loop(b, rounds, "spread.round") as r:
        first = b.mul(r, I64(ROUND_BLOCKS))
        left = b.sub(blocks, first)
        here = b.select(b.icmp_signed("<", left, I64(ROUND_BLOCKS)), left, I64(ROUND_BLOCKS))

        def job(begin: ll.Value, end: ll.Value) -> None:
            partials = walk.partial_slots()  # in the job's own entry block
            with counted_loop(b, end, "spread.block", start=begin) as j:
                start = b.mul(b.add(first, j), I64(BLOCK))
                stop = b.add(start, I64(BLOCK))
                stop = b.select(b.icmp_signed("<", stop, count), stop, count)
                values = walk.block_values(pointers, partials, start, stop, contiguous=True)
                for member, (dtype, value) in enumerate(zip(wide, values, strict=True)):
                    store_element(b, dtype, value, place(j, member))

        outlined_job(b, "reduce.blocks", (here, threads), job)
        with counted_loop(b, here, "spread.total") as j:
            walk.add_block([load_element(b, d, place(j, m)) for m, d in enumerate(wide)], totals)


def spread_row_blocks(
    walk: Walk, pointers: list[ll.Value], totals: Totals, serial: Callable[[], None]
) -> None:
    """Add a matrix's rows (the last two axes of a reduction of every axis: a weight matrix's
    norm, a minibatch's mean cost) to `totals`. Where the matrix has SPREAD_AT elements or
    more and its rows at most ROUND_BLOCKS blocks, the rows are cut into the blocks one
    thread would cut them into, and each block's value is computed by whichever thread of
    the pool takes its row, into a slot; the calling thread adds the slots to the totals in
    row and block order, as `serial()` (the one-thread walk) does: the same bits. (Rows
    taken one after another on one thread, a 4096 x 4096 float32 sum took as long on two
    threads as on one.)"""
    from .reduce_walk import BLOCK

    b = walk.b
    axis = walk.rank - 2
    rows, count = walk.shape[axis], walk.shape[axis + 1]
    threads = _threads_for(b, [rows, count])
    per_row = at_least_1(b, b.udiv(b.add(count, I64(BLOCK - 1)), I64(BLOCK)))
    fits = b.icmp_signed("<=", per_row, I64(ROUND_BLOCKS))
    with b.if_else(b.and_(b.icmp_signed(">", threads, I64(1)), fits)) as (spread, alone):
        with spread:
            walk.by_layout(
                axis + 1,
                lambda: _row_blocks(walk, pointers, totals, (per_row, threads), True),
                lambda: _row_blocks(walk, pointers, totals, (per_row, threads), False),
            )
        with alone:
            serial()


def _row_blocks(
    walk: Walk, pointers: list[ll.Value], totals: Totals, work: tuple[ll.Value, ll.Value], contiguous: bool
) -> None:
    """spread_row_blocks' rounds: as many rows as fill ROUND_BLOCKS slots, over the pool."""
    from .reduce_walk import BLOCK

    b = walk.b
    per_row, threads = work
    axis = walk.rank - 2
    rows, count = walk.shape[axis], walk.shape[axis + 1]
    width, wide = len(walk.members), walk.wide_dtypes
    slots = b.bitcast(entry_alloca(b, ll.ArrayType(I8, ROUND_BLOCKS * width * SLOT)), I8.as_pointer())

    def place(j: ll.Value, member: int) -> ll.Value:
        return b.gep(slots, [b.mul(b.add(b.mul(j, I64(width)), I64(member)), I64(SLOT))])

    round_rows = b.udiv(I64(ROUND_BLOCKS), per_row)
    with counted_loop(b, b.udiv(b.add(rows, b.sub(round_rows, I64(1))), round_rows), "spread.rows") as r:
        first = b.mul(r, round_rows)
        left = b.sub(rows, first)
        here = b.select(b.icmp_signed("<", left, round_rows), left, round_rows)

        def job(begin: ll.Value, end: ll.Value) -> None:
            partials = walk.partial_slots()  # in the job's own entry block
            with counted_loop(b, end, "spread.row", start=begin) as j:
                row = walk.advance(pointers, axis, b.add(first, j))
                with counted_loop(b, per_row, "spread.block") as k:
                    start = b.mul(k, I64(BLOCK))
                    stop = b.add(start, I64(BLOCK))
                    stop = b.select(b.icmp_signed("<", stop, count), stop, count)
                    values = walk.block_values(row, partials, start, stop, contiguous)
                    for member, (dtype, value) in enumerate(zip(wide, values, strict=True)):
                        store_element(b, dtype, value, place(b.add(b.mul(j, per_row), k), member))

        outlined_job(b, "reduce.row_blocks", (here, threads), job)
        with counted_loop(b, b.mul(here, per_row), "spread.total") as j:
            walk.add_block([load_element(b, d, place(j, m)) for m, d in enumerate(wide)], totals)


def spread_rows(walk: Walk, row: Callable[[ll.Value], None]) -> None:
    """`row(i)` for every row i of a reduction of every axis but the first (row sums, a
    softmax's maxima and sums), on the pool's threads when the array has SPREAD_AT elements
    or more. Each row is reduced into its own slot by one thread, as in a one-thread loop."""
    b = walk.b
    threads = _threads_for(b, walk.shape)

    def job(begin: ll.Value, end: ll.Value) -> None:
        with counted_loop(b, end, "spread.row", start=begin) as i:
            row(i)

    outlined_job(b, "reduce.rows", (walk.shape[0], threads), job)


def spread_columns(walk: Walk, visit: Callable[[tuple[ll.Value, ll.Value]], None]) -> None:
    """`visit(columns)` for contiguous ranges of the innermost (kept) axis that together
    cover it, one range per thread of the pool when the array has SPREAD_AT elements or more
    and the axis is wide enough; `visit` walks every reduced axis within its range."""
    b = walk.b
    width = walk.shape[-1]
    threads = _threads_for(b, walk.shape)
    wide_enough = b.sdiv(width, I64(COLUMNS_PER_THREAD))
    threads = at_least_1(b, b.select(b.icmp_signed("<", wide_enough, threads), wide_enough, threads))
    # range t: [t * chunk, (t + 1) * chunk) clipped to the width, chunk a multiple of 16
    chunk = b.sdiv(b.add(width, b.sub(threads, I64(1))), threads)
    chunk = b.and_(b.add(chunk, I64(15)), I64(~15))

    def job(begin: ll.Value, end: ll.Value) -> None:
        def edge(t: ll.Value) -> ll.Value:
            at = b.mul(t, chunk)
            return b.select(b.icmp_signed("<", at, width), at, width)

        visit((edge(begin), edge(end)))

    outlined_job(b, "reduce.columns", (threads, threads), job)


def _threads_for(b: ll.IRBuilder, shape: list[ll.Value]) -> ll.Value:
    """The module's thread count for work over an array of `shape`, or 1 below SPREAD_AT
    elements."""
    elements: ll.Value = I64(1)
    for size in shape:
        elements = b.mul(elements, size)
    threads = b.load(module_global(b.module, THREADS_GLOBAL, I64, I64(1)))
    return b.select(b.icmp_signed(">=", elements, I64(SPREAD_AT)), threads, I64(1))
