"""The elementwise loop over operands of any layout: transposed, sliced, reversed, broadcast
in the middle (loops.py takes it when the contiguous and rows loops do not apply).

The nest is a function of its own, spread over the cores by rows of axis 0 (jobs.launch),
running the same fast body as the contiguous loops (and the whole nest again with the exact
one if an element asks), so a view gives the bits its contiguous copy gives. The last two
axes go in tiles, so a transposed operand is read down a tile's columns while its cache
lines and pages are still there.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import DType
from . import llvm_ir as ll
from .control import counted_loop
from .jobs import FastBody, KernelBody, launch
from .nest import ArrayRef, IterationSpace
from .types import I1, I8_PTR, I64, load_element, mark_not_captured, memory_type, store_element

ROW_TILE, COLUMN_TILE = 32, 128  # measured on 2048^2 transposed and sliced float64 inputs


def strided_loop(
    builder: ll.IRBuilder,
    name: str,
    space: IterationSpace,
    operands: Sequence[ArrayRef],
    outputs: Sequence[tuple[DType, ll.Value]],
    body: KernelBody,
) -> None:
    """outputs[k][i] = body(operands[...][i])[k] over `space`, which operand j walks by its
    strides; outputs are C-contiguous in its extent."""
    module = builder.module
    extent, strides = space.extent, space.strides
    pattern = [[s is not None for s in op_strides] for op_strides in strides]
    dtypes = [op.dtype for op in operands] + [d for d, _ in outputs]
    pointers = [builder.bitcast(op.pointer, I8_PTR) for op in operands] + [p for _, p in outputs]
    steps = [s for op_strides in strides for s in op_strides if s is not None]
    total: ll.Value = I64(1)
    for dim in extent:
        total = builder.mul(total, dim)

    def nest_function(loop_name: str, loop_body: FastBody) -> ll.Function:
        return _nest_function(module, loop_name, dtypes, pattern, len(outputs), len(extent), loop_body)

    launch(builder, name, "nest", nest_function, pointers, total, body, [*extent, *steps])


def _nest_function(
    module: ll.Module,
    name: str,
    dtypes: Sequence[DType],
    pattern: Sequence[Sequence[bool]],
    num_outputs: int,
    rank: int,
    body: FastBody,
) -> ll.Function:
    """i1 name(i64 begin, i64 end, i64 extent..., i64 stride..., T0* noalias, ...): the rows
    of axis 0 whose first element is in [begin, end), each a nest over the other axes;
    operand k moves by the strides `pattern[k]` marks (the others are broadcast)."""
    steps = sum(map(sum, pattern))
    num_inputs = len(dtypes) - num_outputs
    pointer_types = [I8_PTR] * num_inputs + [memory_type(d).as_pointer() for d in dtypes[num_inputs:]]
    signature = ll.FunctionType(I1, [I64, I64, *[I64] * (rank + steps), *pointer_types])
    fn = ll.Function(module, signature, module.get_unique_name(name))
    fn.linkage = "internal"
    begin, end = fn.args[:2]
    given = iter(fn.args[2 + rank : 2 + rank + steps])
    pointers = list(fn.args[2 + rank + steps :])
    for p in pointers:
        p.add_attribute("noalias")
        mark_not_captured(p)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    nest = _Nest(
        b,
        dtypes,
        num_inputs,
        IterationSpace(
            list(fn.args[2 : 2 + rank]),
            [[next(given) if moves else None for moves in op_pattern] for op_pattern in pattern],
        ),
        pointers[num_inputs:],
        body,
        b.alloca(I1),
    )
    b.store(I1(0), nest.flag)
    inner: ll.Value = I64(1)
    for dim in nest.extent[1:]:
        inner = b.mul(inner, dim)
    inner = b.select(b.icmp_signed("==", inner, I64(0)), I64(1), inner)  # no elements: no rows
    # The rows whose first element is in [begin, end): each range a job gets is whole rows.
    first_row = b.sdiv(b.add(begin, b.sub(inner, I64(1))), inner)
    last_row = b.sdiv(b.add(end, b.sub(inner, I64(1))), inner)
    nest.level(0, pointers[:num_inputs], I64(0), (first_row, last_row))
    b.ret(b.load(nest.flag))
    return fn


class _Nest:
    """The loops of one nest function, axis by axis."""

    def __init__(
        self,
        b: ll.IRBuilder,
        dtypes: Sequence[DType],
        num_inputs: int,
        space: IterationSpace,
        outputs: list[ll.Value],
        body: FastBody,
        flag: ll.Value,
    ) -> None:
        self.b, self.dtypes, self.num_inputs = b, dtypes, num_inputs
        self.space = space  # the extent and the inputs' strides, the function's arguments
        self.outputs, self.body = outputs, body
        self.flag = flag  # set when an element asks for exact math

    def level(
        self, axis: int, moved: list[ll.Value], linear: ll.Value, rows: tuple[ll.Value, ll.Value]
    ) -> None:
        """Axes `axis`.. ; `rows` bounds axis `axis` (axis 0: this job's rows)."""
        rank = len(self.extent)
        if axis == rank:
            self.element(moved, linear)
        elif axis == rank - 2:
            self.tiles(moved, linear, rows)
        else:
            with counted_loop(self.b, rows[1], f"axis{axis}", start=rows[0]) as i:
                following = (I64(0), self.extent[axis + 1]) if axis + 1 < rank else rows
                self.level(axis + 1, self.step(moved, axis, i), self.index(linear, axis, i), following)

    def tiles(self, moved: list[ll.Value], linear: ll.Value, rows: tuple[ll.Value, ll.Value]) -> None:
        """The last two axes in ROW_TILE x COLUMN_TILE tiles."""
        b, row_axis, column_axis = self.b, len(self.extent) - 2, len(self.extent) - 1
        columns = self.extent[column_axis]
        low, high = rows
        row_tiles = b.sdiv(b.add(b.sub(high, low), I64(ROW_TILE - 1)), I64(ROW_TILE))
        column_tiles = b.sdiv(b.add(columns, I64(COLUMN_TILE - 1)), I64(COLUMN_TILE))
        with counted_loop(b, row_tiles, "tile.rows") as tile_row:
            first_row = b.add(low, b.mul(tile_row, I64(ROW_TILE)))
            rows_end = _minimum(b, b.add(first_row, I64(ROW_TILE)), high)
            with counted_loop(b, column_tiles, "tile.columns") as tile_column:
                first_column = b.mul(tile_column, I64(COLUMN_TILE))
                columns_end = _minimum(b, b.add(first_column, I64(COLUMN_TILE)), columns)
                with counted_loop(b, rows_end, "tile.row", start=first_row) as i:
                    row, row_linear = self.step(moved, row_axis, i), self.index(linear, row_axis, i)
                    with counted_loop(b, columns_end, "tile.column", start=first_column) as j:
                        self.element(self.step(row, column_axis, j), self.index(row_linear, column_axis, j))

    @property
    def extent(self) -> Sequence[ll.Value]:
        return self.space.extent

    def step(self, moved: list[ll.Value], axis: int, i: ll.Value) -> list[ll.Value]:
        return self.space.step(self.b, moved, axis, i)

    def index(self, linear: ll.Value, axis: int, i: ll.Value) -> ll.Value:
        """The outputs' C-order index, one axis further."""
        return self.b.add(self.b.mul(linear, self.extent[axis]), i)

    def element(self, moved: list[ll.Value], linear: ll.Value) -> None:
        b = self.b
        values = [load_element(b, d, p) for d, p in zip(self.dtypes[: self.num_inputs], moved, strict=True)]
        results, inexact = self.body(b, values)
        for d, p, value in zip(self.dtypes[self.num_inputs :], self.outputs, results, strict=True):
            store_element(b, d, value, b.gep(p, [linear]))
        if inexact is not None:
            b.store(b.or_(b.load(self.flag), inexact), self.flag)


def _minimum(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)
