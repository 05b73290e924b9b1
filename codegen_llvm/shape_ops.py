"""Native code for the ops of ir/ops/shape.py: views, copies into regions, ranges and fills.

Sizes that come from values (a slice bound, an arange's stop, a reshape's
size) are read from their scalar operands while buffers are laid out, before
any loop runs: those operands must be arguments, loaded globals, constants,
shape entries or scalar kernels over them (`ir/shapes.py` refuses anything
else at compile time, and the caller has already checked indices and sizes
with the same arithmetic). Slices clamp as Python's do, so a view never
points outside its source; an integer index is clamped too, as a second line
of defence behind the plan's check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from ..ir import DType, Operation, TcCompilationError, Value
from ..ir.ops.builtin import Constant, Shape, Size
from ..ir.ops.kernel import KernelElementwise
from ..ir.ops.shape import (
    OPERAND,
    Alloc,
    Arange,
    Concatenate,
    IncSubtensor,
    IndexEntry,
    Reshape,
    SliceEntry,
    Subtensor,
    joined_length,
)
from ..ir.ops.state import Load
from ..ir.ops.views import DimShuffle
from . import llvm_ir as ll
from .context import IDENTITY, LoweringContext, contiguous_strides, lowering
from .control import counted_loop
from .loops import emit_elementwise_loop
from .nest import ArrayRef, IterationSpace, PointBody, is_contiguous
from .terms import LLVMSizes, emit_slice
from .types import F64, I8_PTR, I64, load_element, load_integer, register_type, store_element

# Values known while buffers are laid out: their ops' classes, and the views of such values.
_AVAILABLE: frozenset[type[Operation]] = frozenset({Constant, Load, Shape, Size})
_VIEWS: frozenset[type[Operation]] = frozenset({DimShuffle, Subtensor})


class ShapeOpLowering:
    """The shape ops' lowering for one function, through its public `LoweringContext`."""

    def __init__(self, ctx: LoweringContext) -> None:
        self.ctx = ctx
        self.early: set[Operation] = set()  # scalar kernels computed while buffers are laid out

    @property
    def builder(self) -> ll.IRBuilder:
        return self.ctx.builder

    # -- which values are known before the loops run -------------------------------------

    def available(self, value: Value) -> bool:
        owner = value.owner
        if owner is None or type(owner) in _AVAILABLE or owner in self.early:
            return True
        if type(owner) in _VIEWS:
            return self.available(owner.operands[0])
        return False

    def compute_early(self, op: KernelElementwise) -> bool:
        """Whether a kernel is a scalar over available values (index * batch_size), to be
        computed now, while buffers are laid out."""
        if op.results[0].type.rank:
            return False
        if not all(self.available(v) for v in op.operands):
            return False
        self.early.add(op)
        return True

    def concatenate_early(self, op: Concatenate) -> bool:
        """Whether a join is an integer vector of available values (T.stack of sizes), to be
        computed now, while buffers are laid out, so that a size may read it."""
        result = op.results[0].type
        if result.rank != 1 or not result.dtype.is_integer:
            return False
        if not all(self.available(v) for v in op.operands):
            return False
        self.early.add(op)
        return True

    def scalar(self, op: Operation, value: Value) -> ll.Value:
        """An integer scalar operand, as i64, read now."""
        if not self.available(value):
            raise TcCompilationError(
                f"'{op.name}' at {op.location}: a size or index must come from integer inputs, "
                "shapes and constants"
            )
        arr = self.ctx.arrays[value]
        return load_integer(self.builder, arr.dtype, arr.pointer)

    def vector_entry(self, op: Operation, value: Value, index: int) -> ll.Value:
        """Entry `index` of an integer vector operand (a shape), as i64, read now."""
        if not self.available(value):
            raise TcCompilationError(
                f"'{op.name}' at {op.location}: a size must come from integer inputs, shapes and constants"
            )
        arr = self.ctx.arrays[value]
        b = self.builder
        address = b.gep(b.bitcast(arr.pointer, I8_PTR), [b.mul(I64(index), arr.strides[0])])
        return load_integer(b, arr.dtype, address)

    # -- lowering: the entries below call these -----------------------------------------------

    def view(
        self,
        op: Subtensor | IncSubtensor,
        source: ArrayRef,
        scalars: Sequence[Value],
        static: tuple[int | None, ...],
    ) -> ArrayRef:
        """`source[spec]` as a view (static shape `static`): a moved pointer, fewer or shorter
        axes, scaled strides."""
        b = self.builder
        given = iter(scalars)
        entries = op.entries
        offset: ll.Value = I64(0)
        shape: list[ll.Value] = []
        strides: list[ll.Value] = []
        for axis, n in enumerate(source.shape):
            entry = entries[axis] if axis < len(entries) else SliceEntry(None, None, 1)
            stride = source.strides[axis]
            if isinstance(entry, IndexEntry):
                index = self._bound(op, entry.index, given)
                index = b.select(b.icmp_signed("<", index, I64(0)), b.add(index, n), index)
                index = _clamp(b, index, I64(0), b.sub(n, I64(1)))
                offset = b.add(offset, b.mul(index, stride))
                continue
            if entry.is_full:
                shape.append(n)
                strides.append(stride)
                continue
            start, length = self._slice(op, entry, n, given)
            offset = b.add(offset, b.mul(start, stride))
            shape.append(length)
            strides.append(b.mul(stride, I64(entry.step)))
        pointer = b.gep(source.pointer, [offset])
        return ArrayRef(source.dtype, pointer, shape, strides, static)

    def _bound(self, op: Operation, bound: int | str, given: Iterator[Value]) -> ll.Value:
        return self.scalar(op, next(given)) if bound == OPERAND else I64(int(bound))

    def _slice(
        self, op: Operation, entry: SliceEntry, n: ll.Value, given: Iterator[Value]
    ) -> tuple[ll.Value, ll.Value]:
        """Python's slice.indices(n): the first index and the slice's length."""
        first = None if entry.start is None else self._bound(op, entry.start, given)
        stop = None if entry.stop is None else self._bound(op, entry.stop, given)
        return emit_slice(self.builder, n, first, stop, I64(entry.step))

    def reshape(self, op: Reshape) -> ArrayRef:
        """A view of a C-contiguous source; otherwise a contiguous copy made when the loops run."""
        b = self.builder
        source = self.ctx.arrays[op.operands[0]]
        given = iter(op.operands[1:])
        total: ll.Value = I64(1)
        for d in source.shape:
            total = b.mul(total, d)
        sizes: list[ll.Value | None] = []
        known: ll.Value = I64(1)
        for entry in op.shape_entries:
            if entry == -1:
                sizes.append(None)
                continue
            size = self._bound(op, entry, given)
            sizes.append(size)
            known = b.mul(known, size)
        safe = b.select(b.icmp_signed("==", known, I64(0)), I64(1), known)
        shape = [s if s is not None else b.sdiv(total, safe) for s in sizes]
        itemsize = source.dtype.itemsize
        contiguous = is_contiguous(b, source)
        # A one-byte buffer when no copy is needed keeps the allocation unconditional.
        bytes_ = b.select(contiguous, I64(1), b.mul(total, I64(itemsize)))
        scratch = self.ctx.allocate(DType.U8, [bytes_])
        pointer = b.select(contiguous, source.pointer, scratch)
        self.ctx.defer(self._copy_unless, contiguous, source, scratch)
        strides = contiguous_strides(b, shape, itemsize)
        return ArrayRef(source.dtype, pointer, shape, strides, op.results[0].type.shape)

    def _copy_unless(self, contiguous: ll.Value, source: ArrayRef, scratch: ll.Value) -> None:
        b = self.builder
        copy = b.append_basic_block("reshape.copy")
        after = b.append_basic_block("reshape.done")
        b.cbranch(contiguous, after, copy)
        b.position_at_end(copy)
        name = self.ctx.unique_name("reshape")
        emit_elementwise_loop(
            b, name, source.shape, source.static_shape, [source], [(source.dtype, scratch)], IDENTITY
        )
        b.branch(after)
        b.position_at_end(after)

    def inc_subtensor(self, op: IncSubtensor, region: ArrayRef) -> None:
        arrays = self.ctx.arrays
        source, values, result = arrays[op.operands[0]], arrays[op.operands[1]], arrays[op.results[0]]
        name = self.ctx.unique_name("copy")
        emit_elementwise_loop(
            self.builder,
            name,
            result.shape,
            source.static_shape,
            [source],
            [(source.dtype, result.pointer)],
            IDENTITY,
        )
        dtype = source.dtype
        overwrite = bool(op.attributes["set"])
        emitter = _elementwise_add(dtype)

        b = self.builder

        def body(pointers: list[ll.Value], _: list[ll.Value]) -> None:
            target, value_at = pointers
            value = load_element(b, dtype, value_at)
            if not overwrite:
                value = emitter(b, load_element(b, dtype, target), value)
            store_element(b, dtype, value, target)

        _region_walk(b, region, values, body)

    def concatenate(self, op: Concatenate, parts: list[ArrayRef]) -> None:
        b = self.builder
        result = self.ctx.arrays[op.results[0]]
        offset: ll.Value = I64(0)
        dtype = result.dtype
        for part in parts:
            target = ArrayRef(
                dtype, b.gep(result.pointer, [offset]), part.shape, result.strides, part.static_shape
            )

            def body(pointers: list[ll.Value], _: list[ll.Value]) -> None:
                store_element(b, dtype, load_element(b, dtype, pointers[1]), pointers[0])

            _region_walk(b, target, part, body)
            offset = b.add(offset, b.mul(part.shape[op.axis], result.strides[op.axis]))

    def alloc_extent(self, op: Alloc) -> list[ll.Value]:
        entries = op.attributes["shape"]
        assert isinstance(entries, tuple)
        given = iter(op.operands[1:])
        return [self._bound(op, e, given) for e in entries]

    def alloc(self, op: Alloc, extent: list[ll.Value]) -> None:
        value, result = self.ctx.arrays[op.operands[0]], self.ctx.arrays[op.results[0]]
        name = self.ctx.unique_name("alloc")
        static = op.results[0].type.shape
        emit_elementwise_loop(
            self.builder, name, extent, static, [value], [(value.dtype, result.pointer)], IDENTITY
        )

    def range(self, op: Arange) -> tuple[ll.Value, ll.Value, ll.Value, ll.Value]:
        """start, stop, step (i64, or f64 for a float range) and the length, as numpy's arange."""
        b = self.builder
        dtype = op.results[0].type.dtype
        if all(v.type.dtype.is_integer for v in op.operands) and dtype.is_integer:
            start, stop, step = (self.scalar(op, v) for v in op.operands)
            safe = b.select(b.icmp_signed("==", step, I64(0)), I64(1), step)
            positive = b.icmp_signed(">", safe, I64(0))
            span = b.select(positive, b.sub(stop, start), b.sub(start, stop))
            size = b.select(positive, safe, b.neg(safe))
            count = b.sdiv(b.add(span, b.sub(size, I64(1))), size)
            count = b.select(b.icmp_signed(">", span, I64(0)), count, I64(0))
            return start, stop, step, count
        start, stop, step = (self._float(op, v) for v in op.operands)
        quotient = b.fdiv(b.fsub(stop, start), step)
        ceil = b.call(self.ctx.module.declare_intrinsic("llvm.ceil", [F64]), [quotient])
        positive = b.fcmp_ordered(">", ceil, ll.Constant(F64, 0.0))
        count = b.select(positive, b.fptosi(ceil, I64), I64(0))
        return start, stop, step, count

    def _float(self, op: Operation, value: Value) -> ll.Value:
        if not self.available(value):
            raise TcCompilationError(
                f"'{op.name}' at {op.location}: bounds must come from inputs or constants"
            )
        arr = self.ctx.arrays[value]
        raw = load_element(self.builder, arr.dtype, arr.pointer)
        if arr.dtype.is_float:
            return raw if arr.dtype is DType.F64 else self.builder.fpext(raw, F64)
        if arr.dtype.is_signed:
            return self.builder.sitofp(raw, F64)
        return self.builder.uitofp(raw, F64)

    def arange(self, op: Arange, start: ll.Value, step: ll.Value, count: ll.Value) -> None:
        b = self.builder
        result = self.ctx.arrays[op.results[0]]
        dtype = result.dtype
        with counted_loop(b, count, "arange") as i:
            if dtype.is_integer:
                value = b.add(start, b.mul(i, step))
                value = b.trunc(value, register_type(dtype)) if dtype.itemsize < 8 else value
            else:
                value = b.fadd(start, b.fmul(b.sitofp(i, F64), step))
                value = value if dtype is DType.F64 else b.fptrunc(value, register_type(dtype))
            store_element(b, dtype, value, b.gep(result.pointer, [b.mul(i, I64(dtype.itemsize))]))


def _clamp(b: ll.IRBuilder, value: ll.Value, low: ll.Value, high: ll.Value) -> ll.Value:
    value = b.select(b.icmp_signed("<", value, low), low, value)
    return b.select(b.icmp_signed(">", value, high), high, value)


def _region_static(op: IncSubtensor) -> tuple[int | None, ...]:
    from ..ir.ops.shape import subtensor_type

    return subtensor_type(op.operands[0].type, op.entries, op.name).shape


def _elementwise_add(dtype: DType) -> Callable[[ll.IRBuilder, ll.Value, ll.Value], ll.Value]:
    if dtype.is_float:
        return lambda b, x, y: b.fadd(x, y)
    if dtype.is_bool:
        return lambda b, x, y: b.or_(x, y)
    return lambda b, x, y: b.add(x, y)


def _region_walk(b: ll.IRBuilder, target: ArrayRef, source: ArrayRef, body: PointBody) -> None:
    """body([target element, source element], _) over target's shape, any strides; the
    source broadcast to it as numpy broadcasts."""
    space = IterationSpace.over(target.shape, target.static_shape, [target, source])
    space.walk(b, "region", [target.pointer, source.pointer], body)


# -- the lowering entries --------------------------------------------------------------------


@lowering(Subtensor)
def _subtensor(ctx: LoweringContext, op: Subtensor) -> None:
    source = ctx.arrays[op.operands[0]]
    ctx.arrays[op.results[0]] = ctx.shape_ops.view(op, source, op.operands[1:], op.results[0].type.shape)


@lowering(Reshape)
def _reshape(ctx: LoweringContext, op: Reshape) -> None:
    ctx.arrays[op.results[0]] = ctx.shape_ops.reshape(op)


@lowering(IncSubtensor)
def _inc_subtensor(ctx: LoweringContext, op: IncSubtensor) -> None:
    source = ctx.arrays[op.operands[0]]
    ctx.result_buffers(op, list(source.shape))
    # the region is laid out now, from operands that are all available now
    region = ctx.shape_ops.view(op, ctx.arrays[op.results[0]], op.operands[2:], _region_static(op))
    ctx.defer(ctx.shape_ops.inc_subtensor, op, region)


@lowering(Concatenate)
def _concatenate(ctx: LoweringContext, op: Concatenate) -> None:
    parts = [ctx.arrays[v] for v in op.operands]
    extent = list(parts[0].shape)
    extent[op.axis] = joined_length(LLVMSizes(ctx.builder), [p.shape[op.axis] for p in parts])
    if ctx.shape_ops.concatenate_early(op):
        ctx.destination.pop(op.results[0], None)  # laid out now: never a shared buffer itself
        ctx.result_buffers(op, extent)
        ctx.shape_ops.concatenate(op, parts)
    else:
        ctx.result_buffers(op, extent)
        ctx.defer(ctx.shape_ops.concatenate, op, parts)


@lowering(Alloc)
def _alloc(ctx: LoweringContext, op: Alloc) -> None:
    extent = ctx.shape_ops.alloc_extent(op)
    ctx.result_buffers(op, extent)
    ctx.defer(ctx.shape_ops.alloc, op, extent)


@lowering(Arange)
def _arange(ctx: LoweringContext, op: Arange) -> None:
    start, stop, step, count = ctx.shape_ops.range(op)
    ctx.result_buffers(op, [count])
    ctx.defer(ctx.shape_ops.arange, op, start, step, count)
