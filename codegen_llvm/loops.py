"""Loop nests over strided arrays: the outer part of every elementwise kernel.

`emit_elementwise_loop` runs a kernel body over an iteration space in one of
two ways, chosen at run time:

- flat: every full-size operand is C-contiguous. The loop lives in its own
  function with `noalias` pointers so LLVM vectorises it, and is spread over
  the cores by `tc_parallel_for`. It runs the *fast* body (vectorisable math);
  if any element reports that the fast math was not accurate for it (sin of
  a huge argument), the whole range is recomputed with the *exact* body.
- strided: any layout (transposed, sliced, negative strides) and partial
  broadcasting: a loop nest in its own function, spread over the cores by rows
  of the first axis, with the same fast body and exact fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ..ir import DType
from . import llvm_ir as ll
from .control import LONG_RUNS, SHORT_RUN, counted_loop, short_storing_runs
from .jobs import FastBody, KernelBody, launch
from .nest import ArrayRef, IterationSpace, contiguous_over
from .parallel import GRAIN
from .strided import strided_loop
from .types import I1, I8_PTR, I64, load_element, mark_not_captured, memory_type, store_element


def emit_elementwise_loop(
    builder: ll.IRBuilder,
    name: str,
    extent: Sequence[ll.Value],
    static_extent: Sequence[int | None],
    operands: Sequence[ArrayRef],
    outputs: Sequence[tuple[DType, ll.Value]],
    body: KernelBody,
) -> None:
    """outputs[k][i] = body(operands[...][i])[k] for every index i of `extent`.

    Outputs are C-contiguous buffers of shape `extent`. Operands are aligned to
    the right and broadcast where their static dimension is 1 or missing.
    """
    rank = len(extent)
    if rank == 0:  # one element: no loop, no threads, exact math
        values = [load_element(builder, op.dtype, op.pointer) for op in operands]
        for (dtype, pointer), value in zip(outputs, body.exact(builder, values), strict=True):
            store_element(builder, dtype, value, pointer)
        return
    space = IterationSpace.over(extent, static_extent, operands)
    strides = space.strides
    is_full = [all(x is not None for x in s) for s in strides]
    is_scalar = [all(x is None for x in s) for s in strides]
    if not all(f or s for f, s in zip(is_full, is_scalar, strict=True)):
        split = _row_split(strides)
        if split is None:  # broadcasting that is neither rows nor columns: the strided nest
            strided_loop(builder, name, space, operands, outputs, body)
            return
        _rows_or_nest(builder, name, space, operands, outputs, body, split)
        return
    full = [op for op, f in zip(operands, is_full, strict=True) if f]
    if all(op.contiguous for op in full):
        _flat(builder, name, extent, operands, is_scalar, outputs, body)
        return
    flat_block = builder.append_basic_block("flat")
    nest_block = builder.append_basic_block("strided")
    after = builder.append_basic_block("after")
    all_contiguous = I1(1)
    for array in full:
        all_contiguous = builder.and_(
            all_contiguous, contiguous_over(builder, extent, array.strides, array.dtype.itemsize)
        )
    builder.cbranch(all_contiguous, flat_block, nest_block)

    builder.position_at_end(flat_block)
    _flat(builder, name, extent, operands, is_scalar, outputs, body)
    builder.branch(after)

    builder.position_at_end(nest_block)
    strided_loop(builder, f"{name}.strided", space, operands, outputs, body)
    builder.branch(after)
    builder.position_at_end(after)


def _flat(
    builder: ll.IRBuilder,
    name: str,
    extent: Sequence[ll.Value],
    operands: Sequence[ArrayRef],
    is_scalar: Sequence[bool],
    outputs: Sequence[tuple[DType, ll.Value]],
    body: KernelBody,
) -> None:
    total: ll.Value = I64(1)
    for dim in extent:
        total = builder.mul(total, dim)
    module = builder.module
    dtypes = [op.dtype for op in operands] + [d for d, _ in outputs]
    pointers = [op.pointer for op in operands] + [p for _, p in outputs]

    def flat_loop(loop_name: str, loop_body: FastBody) -> ll.Function:
        return _flat_function(module, loop_name, dtypes, is_scalar, len(outputs), loop_body)

    launch(builder, name, "flat", flat_loop, pointers, total, body)


def _row_split(strides: Sequence[Sequence[ll.Value | None]]) -> int | None:
    """An axis k splitting the space into rows (axes < k) and columns (axes >= k) such that
    each operand is full, a scalar, a row (broadcast along the rows: a bias) or a column
    (one value per row, a per-row maximum, or per trailing row axes: an NCHW per-channel
    bias, constant over H, W and N), or None."""
    rank = len(strides[0]) if strides else 0
    for k in range(1, rank):
        if all(_kind(s, k) is not None for s in strides):
            return k
    return None


def _kind(strides: Sequence[ll.Value | None], k: int) -> str | None:
    rows, columns = strides[:k], strides[k:]
    if all(x is not None for x in strides):
        return "full"
    if all(x is None for x in strides):
        return "scalar"
    if all(x is None for x in rows) and all(x is not None for x in columns):
        return "row"
    if all(x is None for x in columns) and _varying_suffix(rows) is not None:
        return "column"
    return None


def _varying_suffix(rows: Sequence[ll.Value | None]) -> int | None:
    """Where the row axes an operand varies along start, if they are the last ones (it is
    broadcast along the ones before: row r reads entry r % (their rows)); else None."""
    first = next((a for a, x in enumerate(rows) if x is not None), len(rows))
    return first if all(x is not None for x in rows[first:]) else None


def _rows_or_nest(
    builder: ll.IRBuilder,
    name: str,
    space: IterationSpace,
    operands: Sequence[ArrayRef],
    outputs: Sequence[tuple[DType, ll.Value]],
    body: KernelBody,
    split: int,
) -> None:
    """Rows x columns with contiguous operands: a vectorised inner loop over the columns,
    spread over the cores by element ranges; any other layout takes the strided nest."""
    extent, strides = space.extent, space.strides
    kinds = [_kind(s, split) for s in strides]
    ok: ll.Value = I1(1)
    periods: list[ll.Value] = []  # per column operand: the rows after which its values repeat
    for operand, op_strides, kind in zip(operands, strides, kinds, strict=True):
        if kind == "scalar":
            continue
        if kind == "column":
            first = _varying_suffix(op_strides[:split])
            assert first is not None
            axes = range(first, split)
            period: ll.Value = I64(1)
            for axis in axes:
                period = builder.mul(period, extent[axis])
            periods.append(period)
        else:
            axes = range(len(extent)) if kind == "full" else range(split, len(extent))
        ok = builder.and_(ok, contiguous_over(builder, extent, op_strides, operand.dtype.itemsize, axes))
    by_construction = all(op.contiguous for op, kind in zip(operands, kinds, strict=True) if kind != "scalar")
    rows_block = builder.append_basic_block("rows")
    nest_block = None if by_construction else builder.append_basic_block("strided")
    after = builder.append_basic_block("after")
    if nest_block is None:  # every operand's layout is known: no check, no strided fallback
        builder.branch(rows_block)
    else:
        builder.cbranch(ok, rows_block, nest_block)

    builder.position_at_end(rows_block)
    total: ll.Value = I64(1)
    columns: ll.Value = I64(1)
    for axis, dim in enumerate(extent):
        total = builder.mul(total, dim)
        if axis >= split:
            columns = builder.mul(columns, dim)
    module = builder.module
    dtypes = [op.dtype for op in operands] + [d for d, _ in outputs]
    pointers = [builder.bitcast(op.pointer, I8_PTR) for op in operands] + [p for _, p in outputs]

    def rows_loop(loop_name: str, loop_body: FastBody) -> ll.Function:
        blocked = body.grain < GRAIN  # the body calls a math function (kernel_body.thread_grain)
        return _rows_function(module, loop_name, dtypes, kinds, len(outputs), loop_body, blocked)

    launch(builder, name, "rows", rows_loop, pointers, total, body, [columns, *periods])
    builder.branch(after)

    if nest_block is not None:
        builder.position_at_end(nest_block)
        strided_loop(builder, f"{name}.strided", space, operands, outputs, body)
        builder.branch(after)
    builder.position_at_end(after)


def _rows_function(
    module: ll.Module,
    name: str,
    dtypes: Sequence[DType],
    kinds: Sequence[str | None],
    num_outputs: int,
    body: FastBody,
    blocked: bool,
) -> ll.Function:
    """i1 name(i64 begin, i64 end, i64 columns, i64 period, ..., T0* noalias, ...): elements
    [begin, end) of a rows x columns space, row by row, each row's run a vectorisable loop;
    column operand k (one value per row) reads entry r % period_k at row r. `blocked`: rows
    shorter than SHORT_RUN run as blocks of elements (_short_rows), else as short loops."""
    pointer_types = [memory_type(d).as_pointer() for d in dtypes]
    num_periods = sum(k == "column" for k in kinds)
    signature = ll.FunctionType(I1, [I64, I64, I64, *[I64] * num_periods, *pointer_types])
    fn = ll.Function(module, signature, module.get_unique_name(name))
    fn.linkage = "internal"
    begin, end, columns = fn.args[:3]
    periods = iter(fn.args[3 : 3 + num_periods])
    pointers = fn.args[3 + num_periods :]
    for p in pointers:
        p.add_attribute("noalias")
        mark_not_captured(p)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    num_inputs = len(dtypes) - num_outputs
    inputs = list(zip(dtypes[:num_inputs], pointers[:num_inputs], kinds, strict=True))
    period_of = [next(periods) if k == "column" else None for k in kinds]
    scalars = [load_element(b, d, p) if k == "scalar" else None for d, p, k in inputs]
    flag = b.alloca(I1)
    b.store(I1(0), flag)
    # A zero-length column axis means an empty range: divide by 1 then, not by 0 (SIGFPE).
    columns = b.select(b.icmp_signed("==", columns, I64(0)), I64(1), columns)
    spread = [
        b.alloca(memory_type(d), size=I64(SHORT_ROWS_BLOCK)) if blocked and k in ("row", "column") else None
        for d, _, k in inputs
    ]
    rows = _Rows(b, columns, inputs, period_of)
    outputs = list(zip(dtypes[num_inputs:], pointers[num_inputs:], strict=True))

    def emit(index: ll.Value, values: list[ll.Value]) -> None:
        results, inexact = body(b, values)
        for (d, p), value in zip(outputs, results, strict=True):
            store_element(b, d, value, b.gep(p, [index]))
        if inexact is not None:
            b.store(b.or_(b.load(flag), inexact), flag)

    if not blocked:
        _row_by_row(rows, begin, end, scalars, emit)
    else:
        with b.if_else(b.icmp_signed("<", columns, I64(SHORT_RUN))) as (short, long):
            with short:
                _short_rows(rows, begin, end, scalars, spread, emit)
            with long:
                _row_by_row(rows, begin, end, scalars, emit, LONG_RUNS)
    b.ret(b.load(flag))
    return fn


# Elements of short rows run at a time as one flat loop (a stack buffer per broadcast operand).
SHORT_ROWS_BLOCK = 256


class _Rows:
    """The rows of a range of elements [begin, end) of a rows x columns space, the first and
    last maybe partial, with each column operand's value for the row (entry r % period)."""

    def __init__(
        self,
        b: ll.IRBuilder,
        columns: ll.Value,
        inputs: Sequence[tuple[DType, ll.Value, str | None]],
        period_of: Sequence[ll.Value | None],
    ) -> None:
        self.b, self.columns, self.inputs, self.period_of = b, columns, inputs, period_of

    @contextmanager
    def each(
        self, begin: ll.Value, end: ll.Value
    ) -> Iterator[tuple[ll.Value, list[ll.Value | None], ll.Value, ll.Value]]:
        """Per row: (its first element's index, the column operands' values, the columns
        [lo, hi) of it in the range)."""
        b, columns = self.b, self.columns
        first_row = b.sdiv(begin, columns)
        last_row = b.sdiv(b.add(end, b.sub(columns, I64(1))), columns)
        with counted_loop(b, last_row, "row", start=first_row) as r:
            row_start = b.mul(r, columns)
            lo = b.sub(begin, row_start)
            lo = b.select(b.icmp_signed(">", lo, I64(0)), lo, I64(0))
            hi = b.sub(end, row_start)
            hi = b.select(b.icmp_signed("<", hi, columns), hi, columns)
            values = [
                load_element(b, d, b.gep(p, [b.urem(r, period)])) if period is not None else None
                for (d, p, _), period in zip(self.inputs, self.period_of, strict=True)
            ]  # loaded once per row
            yield row_start, values, lo, hi


def _row_by_row(
    rows: _Rows,
    begin: ll.Value,
    end: ll.Value,
    scalars: Sequence[ll.Value | None],
    emit: Callable[[ll.Value, list[ll.Value]], None],
    hints: dict[str, int] | None = None,
) -> None:
    """Each row's columns as a loop with `hints`; without them, runs under SHORT_RUN get the
    short runs' options (control.short_storing_runs) and longer ones LONG_RUNS."""
    b = rows.b
    with rows.each(begin, end) as (row_start, row_values, lo, hi):

        def columns_loop(options: dict[str, int]) -> None:
            with counted_loop(b, hi, "column", start=lo, hints=options) as j:
                flat = b.add(row_start, j)
                values = []
                for (d, p, k), scalar, row_value in zip(rows.inputs, scalars, row_values, strict=True):
                    if k == "scalar":
                        values.append(scalar)
                    elif k == "column":
                        values.append(row_value)
                    else:
                        values.append(load_element(b, d, b.gep(p, [j if k == "row" else flat])))
                emit(flat, values)

        if hints is not None:
            columns_loop(hints)
            return
        with b.if_else(b.icmp_signed("<", b.sub(hi, lo), I64(SHORT_RUN))) as (short, long):
            with short:
                columns_loop(short_storing_runs())
            with long:
                columns_loop(LONG_RUNS)


def _short_rows(
    rows: _Rows,
    begin: ll.Value,
    end: ll.Value,
    scalars: Sequence[ll.Value | None],
    spread: Sequence[ll.Value | None],
    emit: Callable[[ll.Value, list[ll.Value]], None],
) -> None:
    """Rows shorter than SHORT_RUN, SHORT_ROWS_BLOCK elements at a time: the row and column
    operands' values are first spread into a buffer per operand (a short store loop per row),
    then the body runs over the block as one flat loop, vectorised without a remainder per row.
    Row by row, rows of 10 float64 ran two vectors and two scalar elements each."""
    b = rows.b
    blocks = b.sdiv(b.add(b.sub(end, begin), I64(SHORT_ROWS_BLOCK - 1)), I64(SHORT_ROWS_BLOCK))
    with counted_loop(b, blocks, "block") as block:
        start = b.add(begin, b.mul(block, I64(SHORT_ROWS_BLOCK)))
        stop = b.add(start, I64(SHORT_ROWS_BLOCK))
        stop = b.select(b.icmp_signed("<", stop, end), stop, end)
        with rows.each(start, stop) as (row_start, row_values, lo, hi):
            with counted_loop(b, hi, "spread", start=lo) as j:
                at = b.sub(b.add(row_start, j), start)
                for (d, p, k), buffer, row_value in zip(rows.inputs, spread, row_values, strict=True):
                    if buffer is not None:
                        value = row_value if k == "column" else load_element(b, d, b.gep(p, [j]))
                        store_element(b, d, value, b.gep(buffer, [at]))
        with counted_loop(b, b.sub(stop, start), "i", hints=LONG_RUNS) as i:
            flat = b.add(start, i)
            values = []
            for (d, p, k), scalar, buffer in zip(rows.inputs, scalars, spread, strict=True):
                if k == "scalar":
                    values.append(scalar)
                elif buffer is not None:
                    values.append(load_element(b, d, b.gep(buffer, [i])))
                else:
                    values.append(load_element(b, d, b.gep(p, [flat])))
            emit(flat, values)


def _flat_function(
    module: ll.Module,
    name: str,
    dtypes: Sequence[DType],
    is_scalar: Sequence[bool],
    num_outputs: int,
    body: FastBody,
) -> ll.Function:
    """i1 name(i64 begin, i64 end, T0* noalias, ..., R0* noalias, ...): the vectorisable loop."""
    pointer_types = [memory_type(d).as_pointer() for d in dtypes]
    fn = ll.Function(module, ll.FunctionType(I1, [I64, I64, *pointer_types]), module.get_unique_name(name))
    fn.linkage = "internal"
    begin, end, *pointers = fn.args
    for p in pointers:
        p.add_attribute("noalias")
        mark_not_captured(p)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    num_inputs = len(dtypes) - num_outputs
    hoisted = [
        load_element(b, d, p) if s else None
        for d, p, s in zip(dtypes[:num_inputs], pointers[:num_inputs], is_scalar, strict=True)
    ]
    flag = b.alloca(I1)
    b.store(I1(0), flag)
    with counted_loop(b, end, "i", start=begin, hints=LONG_RUNS) as i:
        values = [
            h if h is not None else load_element(b, d, b.gep(p, [i]))
            for h, d, p in zip(hoisted, dtypes[:num_inputs], pointers[:num_inputs], strict=True)
        ]
        results, inexact = body(b, values)
        for d, p, value in zip(dtypes[num_inputs:], pointers[num_inputs:], results, strict=True):
            store_element(b, d, value, b.gep(p, [i]))
        if inexact is not None:
            b.store(b.or_(b.load(flag), inexact), flag)
    b.ret(b.load(flag))
    return fn
