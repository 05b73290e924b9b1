"""The CPU lowering entries of every op but the shape ops (those are in shape_ops.py).

Grouped by family; each entry follows the buffer plan (plan.py), lays out its
results through the `LoweringContext` and defers its loops. The emitters they
call (loops.py, reduce.py, linalg.py, indexing.py, random.py) know nothing of
the context, so the PTX backend can reuse them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..ir import DType, Operation, TcCompilationError
from ..ir.ops.builtin import Constant, Return, Shape, Size
from ..ir.ops.elementwise import Cast
from ..ir.ops.indexing import Gather, ScatterAdd
from ..ir.ops.kernel import KernelElementwise
from ..ir.ops.linalg import BatchedDot, Dot, Gemm, batched_dot_shape, dot_shape, gemm_shape
from ..ir.ops.random import (
    RandomBinomial,
    RandomChoice,
    RandomIntegers,
    RandomNormal,
    RandomOp,
    RandomPermutation,
    RandomUniform,
)
from ..ir.ops.reduce import Reduce, reduced_shape
from ..ir.ops.state import Load, Store
from ..ir.ops.views import DimShuffle, shuffled
from ..ir.sizes import broadcast
from . import llvm_ir as ll
from .context import LoweringContext, lowering
from .indexing import emit_gather, emit_scatter_add, indexing_extent
from .kernel_body import kernel_body
from .loops import emit_elementwise_loop
from .nest import ArrayRef
from .scalar import ScalarEmitter
from .terms import LLVMSizes
from .types import I8_PTR, I32, I64, memory_type

# -- values known without a loop: constants, shapes, sizes, globals, views -------------------


@lowering(Constant)
def _constant(ctx: LoweringContext, op: Constant) -> None:
    array = np.ascontiguousarray(op.value)
    dtype = op.result.type.dtype
    elem = memory_type(dtype)
    flat = array.reshape(-1).astype(np.uint8 if dtype.is_bool else array.dtype)
    const = ll.Constant(ll.ArrayType(elem, flat.size), [ll.Constant(elem, v.item()) for v in flat])
    glob = ll.GlobalVariable(ctx.module, const.type, name=ctx.module.get_unique_name("const"))
    glob.global_constant = True
    glob.linkage = "internal"
    glob.initializer = const
    pointer = ctx.builder.bitcast(glob, I8_PTR)
    shape = [I64(d) for d in array.shape]
    strides = [I64(s) for s in array.strides]
    ctx.arrays[op.result] = ArrayRef(dtype, pointer, shape, strides, tuple(array.shape))


@lowering(Shape)
def _shape(ctx: LoweringContext, op: Shape) -> None:
    """A run-time shape as a small int64 array on the stack."""
    b = ctx.builder
    source = ctx.arrays[op.operands[0]]
    rank = len(source.shape)
    pointer = b.alloca(I64, size=I32(max(rank, 1)))
    for axis, dim in enumerate(source.shape):
        b.store(dim, b.gep(pointer, [I32(axis)]))
    ctx.arrays[op.results[0]] = ArrayRef(
        DType.I64, b.bitcast(pointer, I8_PTR), [I64(rank)], [I64(8)], (rank,)
    )


@lowering(Size)
def _size(ctx: LoweringContext, op: Size) -> None:
    """The number of elements along the op's axes, as an int64 scalar on the stack."""
    b = ctx.builder
    source = ctx.arrays[op.operands[0]]
    count: ll.Value = I64(1)
    for axis in op.axes:
        count = b.mul(count, source.shape[axis])
    pointer = b.alloca(I64)
    b.store(count, pointer)
    ctx.arrays[op.results[0]] = ArrayRef(DType.I64, b.bitcast(pointer, I8_PTR), [], [], ())


@lowering(Load)
def _load(ctx: LoweringContext, op: Load) -> None:
    glob = ctx.global_slots[op.symbol]
    result = op.results[0]
    # A shared variable's value is always C-contiguous (runtime/shared.py makes it so).
    ctx.arrays[result] = ArrayRef(result.type.dtype, *glob, result.type.shape, True)


@lowering(Store, Return)
def _written_at_the_end(ctx: LoweringContext, op: Store | Return) -> None:
    """Nothing to do now: every result and stored value is copied to its slot at the end,
    unless the plan has it computed there."""


@lowering(Cast)
def _retype(ctx: LoweringContext, op: Cast) -> None:
    """A cast that only learns or forgets static sizes (fuse keeps it out of kernels; the shape
    plan checked what it learns): the same array under its new type."""
    source = ctx.arrays[op.operands[0]]
    if source.dtype is not op.results[0].type.dtype:
        raise TcCompilationError(f"'{op.name}' at {op.location} changes the dtype but was not fused")
    ctx.arrays[op.results[0]] = ArrayRef(
        source.dtype, source.pointer, source.shape, source.strides, op.results[0].type.shape
    )


@lowering(DimShuffle)
def _dimshuffle(ctx: LoweringContext, op: DimShuffle) -> None:
    """A view: the same memory, other strides."""
    source = ctx.arrays[op.operands[0]]
    ctx.arrays[op.results[0]] = ArrayRef(
        source.dtype,
        source.pointer,
        [I64(d) if isinstance(d, int) else d for d in shuffled(source.shape, op.pattern)],
        [I64(0) if p == -1 else source.strides[p] for p in op.pattern],
        op.results[0].type.shape,
    )


# -- elementwise kernels ---------------------------------------------------------------------


@lowering(KernelElementwise)
def _kernel(ctx: LoweringContext, op: KernelElementwise) -> None:
    assert ctx.plan is not None
    early = ctx.shape_ops.compute_early(op)  # a scalar that sizes or indexes
    if early:  # into a temporary: a store slot may be the shared buffer itself
        for result in op.results:
            if result in ctx.plan.stored:
                ctx.destination.pop(result, None)
    extent = kernel_extent(ctx, op)
    ctx.result_buffers(op, extent)
    if early:
        _emit_kernel(ctx, op, extent)
    else:
        ctx.defer(_emit_kernel, ctx, op, extent)


def kernel_extent(
    ctx: LoweringContext, op: Operation, static_shape: tuple[int | None, ...] | None = None
) -> list[ll.Value]:
    """The run-time shape of a kernel's results (or of the broadcast of its operands, of
    static shape `static_shape`): its operands broadcast as the type rule and the plan
    broadcast them (ir/sizes.py), each size static where it is known."""
    result_shape = op.results[0].type.shape if static_shape is None else static_shape
    shapes = [ctx.arrays[v].sizes() for v in op.operands]
    refined = tuple(1 if d is None else d for d in result_shape)  # what the type learned
    extent = broadcast(LLVMSizes(ctx.builder), [*shapes, refined])
    return [I64(d) if isinstance(d, int) else d for d in extent]


def _emit_kernel(ctx: LoweringContext, op: KernelElementwise, extent: list[ll.Value]) -> None:
    outputs = [(r.type.dtype, ctx.arrays[r].pointer) for r in op.results]
    name = ctx.unique_name("kernel")
    operands = [ctx.arrays[v] for v in op.operands]
    static = op.results[0].type.shape
    body = kernel_body(op, ctx.math)
    emit_elementwise_loop(ctx.builder, name, extent, static, operands, outputs, body)


# -- linear algebra --------------------------------------------------------------------------


@lowering(Dot)
def _dot(ctx: LoweringContext, op: Dot) -> None:
    a, b = ctx.arrays[op.operands[0]], ctx.arrays[op.operands[1]]
    ctx.result_buffers(op, list(dot_shape(LLVMSizes(ctx.builder), a.shape, b.shape)))
    from .linalg import emit_dot  # (the products' emitters, 1.2 ms of imports: when used)

    ctx.defer(emit_dot, ctx.builder, a, b, ctx.arrays[op.results[0]].pointer)


@lowering(Gemm)
def _gemm(ctx: LoweringContext, op: Gemm) -> None:
    c, a, b = (ctx.arrays[v] for v in op.operands)
    ctx.result_buffers(op, list(gemm_shape(LLVMSizes(ctx.builder), c.shape, a.shape, b.shape)))
    from .gemm_update import emit_gemm

    ctx.defer(emit_gemm, ctx.builder, c, a, b, ctx.arrays[op.results[0]], (op.alpha, op.beta))


@lowering(BatchedDot)
def _batched_dot(ctx: LoweringContext, op: BatchedDot) -> None:
    a, b = ctx.arrays[op.operands[0]], ctx.arrays[op.operands[1]]
    ctx.result_buffers(op, list(batched_dot_shape(LLVMSizes(ctx.builder), a.shape, b.shape)))
    from .linalg import emit_batched_dot

    ctx.defer(emit_batched_dot, ctx.builder, a, b, ctx.arrays[op.results[0]])


# -- reductions ------------------------------------------------------------------------------


@lowering(Reduce)
def _reduce(ctx: LoweringContext, op: Reduce) -> None:
    source = ctx.arrays[op.operands[0]]
    extent = reduced_extent(source.shape, op.axes, op.keepdims)
    ctx.result_buffers(op, extent)
    out_dtype, rank = op.results[0].type.dtype, len(source.shape)
    scratch = reduction_scratch(ctx, op.kind, source.dtype, out_dtype, rank, op.axes, extent)
    ctx.defer(_emit_reduce, ctx, op, extent, scratch)


def reduced_extent(shape: list[ll.Value], axes: tuple[int, ...], keepdims: bool) -> list[ll.Value]:
    """The run-time shape of a reduction of `shape` over `axes` (the type's and the plan's rule)."""
    return [I64(d) if isinstance(d, int) else d for d in reduced_shape(shape, axes, keepdims)]


def reduction_scratch(
    ctx: LoweringContext,
    kind: str,
    in_dtype: DType,
    out_dtype: DType,
    rank: int,
    axes: tuple[int, ...],
    extent: list[ll.Value],
) -> ll.Value | None:
    """The temporary a reduction over `axes` of a rank-`rank` source needs beside its result
    (shape `extent`), if any."""
    if kind in ("argmax", "argmin"):  # the best values so far, beside their indices
        return ctx.allocate(in_dtype, extent)
    from .reduce import wide_accumulator  # (the reductions' emitters, 1 ms of imports: when used)

    wide = wide_accumulator(kind, out_dtype, rank, axes)  # float32 column sums, say
    return ctx.allocate(wide, extent) if wide is not None else None


def _emit_reduce(ctx: LoweringContext, op: Reduce, extent: list[ll.Value], scratch: ll.Value | None) -> None:
    emitter = ScalarEmitter(ctx.builder, ctx.math)
    source = ctx.arrays[op.operands[0]]
    from .reduce import emit_reduce

    emit_reduce(emitter, op, source, ctx.arrays[op.results[0]].pointer, extent, scratch)


# -- gather and scatter-add ------------------------------------------------------------------


@lowering(Gather)
def _gather(ctx: LoweringContext, op: Gather) -> None:
    ctx.result_buffers(op, indexing_extent(ctx.builder, op, ctx.arrays))
    ctx.defer(_emit_indexing, ctx, op, emit_gather)


@lowering(ScatterAdd)
def _scatter_add(ctx: LoweringContext, op: ScatterAdd) -> None:
    ctx.result_buffers(op, list(ctx.arrays[op.operands[0]].shape))
    ctx.defer(_emit_indexing, ctx, op, emit_scatter_add)


def _emit_indexing(ctx: LoweringContext, op: Gather | ScatterAdd, emit: Callable[..., None]) -> None:
    output = ctx.arrays[op.results[0]]
    emit(ctx.builder, op, ctx.arrays, output, ctx.index_failure, ctx.first_check[op])


# -- random draws ----------------------------------------------------------------------------


@lowering(RandomUniform, RandomNormal, RandomIntegers, RandomBinomial)
def _random(ctx: LoweringContext, op: RandomOp) -> None:
    extent = _random_extent(ctx, op)
    ctx.result_buffers(op, extent)
    ctx.defer(_emit_random, ctx, op, extent)


@lowering(RandomPermutation)
def _random_permutation(ctx: LoweringContext, op: RandomPermutation) -> None:
    ctx.result_buffers(op, _random_extent(ctx, op))
    # the whole population is shuffled
    ctx.allocate_scratch(op, DType.I64, [I64(op.population)])
    state, output = ctx.arrays[op.operands[0]], ctx.arrays[op.results[0]].pointer
    from .random import emit_permutation  # (Philox's emitters: when used)

    ctx.defer(emit_permutation, ctx.builder, op, state, output, ctx.scratch[op])


@lowering(RandomChoice)
def _random_choice(ctx: LoweringContext, op: RandomChoice) -> None:
    ctx.result_buffers(op, _random_extent(ctx, op))
    # indices or running sums, one per value
    ctx.allocate_scratch(op, DType.I64, [ctx.arrays[op.values].shape[0]])
    ctx.defer(_emit_choice, ctx, op)


def _emit_choice(ctx: LoweringContext, op: RandomChoice) -> None:
    state, values = ctx.arrays[op.operands[0]], ctx.arrays[op.values]
    weights = ctx.arrays[op.weights] if op.weights is not None else None
    output = ctx.arrays[op.results[0]].pointer
    from .random import emit_choice

    emit_choice(ctx.builder, op, state, values, weights, output, ctx.scratch[op])


def _random_extent(ctx: LoweringContext, op: RandomOp) -> list[ll.Value]:
    """Each dimension of a draw: from the result type, or read from the size operand."""
    size = op.size_operand
    extent: list[ll.Value] = []
    for axis, dim in enumerate(op.results[0].type.shape):
        if dim is not None:
            extent.append(I64(dim))
            continue
        assert size is not None  # the verifier guarantees one where a dimension is `?`
        extent.append(ctx.shape_ops.vector_entry(op, size, axis))
    return extent


def _emit_random(ctx: LoweringContext, op: RandomOp, extent: list[ll.Value]) -> None:
    state = ctx.arrays[op.operands[0]]
    params = [ctx.arrays[v] for v in op.params]
    output = ctx.arrays[op.results[0]].pointer
    count: ll.Value = I64(1)
    for dim in extent:
        count = ctx.builder.mul(count, dim)
    from .random import emit_random

    emit_random(ctx.builder, ctx.unique_name("random"), op, state, params, output, count)
