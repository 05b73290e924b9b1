"""Lower one IR function to one native entry point with a plain C ABI.

    int32_t tc_<name>(void **data, int64_t *dims)

`data` holds one pointer per array slot: the function's arguments in
order, then its results. `dims` holds, slot after slot, the slot's shape
then its byte strides (rank values each; nothing for a scalar). Result
slots are C-contiguous buffers the caller allocated with the shapes of
`ir.shapes`. The caller has checked every shape before the call, so the
code never reads out of bounds. Returns 0, or 1 when a temporary buffer
could not be allocated, or 2 + n when index check n failed (a gather or
scatter-add index outside its axis: `ir.ops.indexing.index_checks`); then
the bad index and the axis size are written to `dims` just past the last
stride, so `dims` has two entries more than the shapes and strides.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from llvmlite import ir as ll

from ..ir import DType, Function, Operation, TcCompilationError, Value
from ..ir.calling import CallingConvention
from ..ir.ops.builtin import Constant
from ..ir.ops.indexing import Gather, ScatterAdd, index_checks
from ..ir.ops.kernel import KernelElementwise
from ..ir.ops.linalg import BatchedDot, Dot
from ..ir.ops.random import RandomChoice, RandomOp, RandomPermutation
from ..ir.ops.reduce import Reduce
from ..ir.ops.views import DimShuffle
from .indexing import IndexFailure, emit_gather, emit_scatter_add, indexing_extent
from .kernel_body import kernel_body
from .linalg import emit_batched_dot, emit_dot
from .loops import ArrayRef, KernelBody, broadcast_strides, emit_elementwise_loop
from .random import emit_choice, emit_permutation, emit_random
from .reduce import Member, Producer, emit_reduce, emit_reductions, wide_accumulator
from .scalar import MathLibrary, ScalarEmitter
from .shape_ops import FRESH_SHAPE_OPS, SHAPE_OPS, ShapeOpLowering
from .types import I1, I8_PTR, I32, I64, mark_not_captured, memory_type


@dataclass(frozen=True)
class EntryPoint:
    """What the runtime needs to call the lowered function."""

    symbol: str
    slot_ranks: tuple[int, ...]  # arguments then results


def entry_symbol(function: Function) -> str:
    return f"tc_{function.name}"


def lower_function(convention: CallingConvention, function: Function, module: ll.Module) -> EntryPoint:
    return _FunctionLowering(convention, function, module).lower()


class _FunctionLowering:
    def __init__(self, convention: CallingConvention, function: Function, module: ll.Module) -> None:
        self.convention = convention
        self.function = function
        self.module = module
        self.math = MathLibrary(module)
        self.arrays: dict[Value, ArrayRef] = {}
        self.temporaries: list[ll.Value] = []
        self._scratch: dict[Operation, ll.Value] = {}

    def lower(self) -> EntryPoint:
        function, convention = self.function, self.convention
        ranks = convention.slot_ranks
        symbol = entry_symbol(function)
        fn_type = ll.FunctionType(I32, [I8_PTR.as_pointer(), I64.as_pointer()])
        fn = ll.Function(self.module, fn_type, symbol)
        data, dims = fn.args
        data.name, dims.name = "data", "dims"
        for arg in (data, dims):
            mark_not_captured(arg)
        self.builder = ll.IRBuilder(fn.append_basic_block("entry"))
        self.shape_ops = ShapeOpLowering(self)
        self.fail_block = fn.append_basic_block("out_of_memory")
        # A bad index returns 2 + its check's number, its value and axis size past the strides.
        self.index_failure = IndexFailure(fn, dims, 2 * sum(ranks))
        self.first_check = {op: n for n, (op, axis) in reversed(list(enumerate(index_checks(function))))}

        slots = [self._slot(data, dims, index, ranks) for index in range(len(ranks))]
        for arg, slot in zip(function.args, slots, strict=False):
            self.arrays[arg] = ArrayRef(arg.type.dtype, *slot, arg.type.shape)
        outputs = slots[len(function.args) : convention.first_global_slot]
        global_slots = dict(zip(convention.globals, slots[convention.first_global_slot :], strict=False))
        store_slots = slots[convention.first_store_slot :]
        # A kernel result that is returned or stored is computed straight into its slot.
        destination: dict[Value, ll.Value] = {}
        targets = [(v, s) for v, s in zip(convention.results, outputs, strict=True)]
        targets += [(op.operands[0], s) for op, s in zip(convention.stores, store_slots, strict=True)]
        for value, slot in targets:
            if isinstance(
                value.owner, (KernelElementwise, RandomOp, Reduce, Dot, BatchedDot, Gather, ScatterAdd)
            ):
                destination.setdefault(value, slot[0])
            elif isinstance(value.owner, FRESH_SHAPE_OPS):
                destination.setdefault(value, slot[0])
        stored = {op.operands[0] for op in convention.stores}
        # Kernels whose one result only feeds a reduction are computed inside its loop.
        self.fused: dict[Value, KernelElementwise] = {}
        for op in function.body.ops:
            source = op.operands[0] if isinstance(op, Reduce) else None
            kernel = source.owner if source is not None else None
            if (
                isinstance(kernel, KernelElementwise)
                and len(kernel.results) == 1
                and len(source.uses) == 1  # type: ignore[union-attr]
                and source.type.rank > 0  # type: ignore[union-attr]
                and source not in destination
                and not self.shape_ops.compute_early(kernel)
            ):
                self.fused[source] = kernel  # type: ignore[index]
        # Fused reductions over the same operands and axes (sum(abs(W)) and sum(W * W)) share
        # one walk over the operands: the first of each group computes them all.
        self.groups: dict[Operation, list[Reduce]] = {}
        leaders: dict[tuple[object, ...], Reduce] = {}
        for op in function.body.ops:
            if (
                not isinstance(op, Reduce)
                or op.operands[0] not in self.fused
                or op.kind in ("argmax", "argmin")
            ):
                continue
            kernel = self.fused[op.operands[0]]
            key = (tuple(kernel.operands), op.results[0].type.shape, op.axes, op.attributes["keepdims"])
            leader = leaders.setdefault(key, op)
            self.groups.setdefault(leader, []).append(op)
        grouped = {op for group in self.groups.values() for op in group}

        # First every buffer and size, so that nothing can fail once a shared
        # buffer may have been written in place; then the loops.
        loops: list[Callable[[], None]] = []
        for op in function.body.ops:
            if isinstance(op, Constant):
                self.arrays[op.result] = self._constant(op)
            elif op.name == "tx.shape":
                self.arrays[op.results[0]] = self._shape_of(self.arrays[op.operands[0]])
            elif op.name == "tx.size":
                self.arrays[op.results[0]] = self._size_of(self.arrays[op.operands[0]], op.axes)  # type: ignore[attr-defined]
            elif op.name == "tx.load":
                glob = global_slots[op.symbol]  # type: ignore[attr-defined]
                self.arrays[op.results[0]] = ArrayRef(
                    op.results[0].type.dtype, *glob, op.results[0].type.shape
                )
            elif isinstance(op, KernelElementwise) and op.results[0] in self.fused:
                result = op.results[0]  # only its shape: the reduction computes the elements
                extent = self._extent(op)
                null = ll.Constant(I8_PTR, None)
                self.arrays[result] = ArrayRef(result.type.dtype, null, extent, extent, result.type.shape)
            elif isinstance(op, KernelElementwise):
                early = self.shape_ops.compute_early(op)  # a scalar that sizes or indexes
                if early:  # into a temporary: a store slot may be the shared buffer itself
                    for result in op.results:
                        if result in stored:
                            destination.pop(result, None)
                extent = self._kernel_buffers(op, destination)
                if early:
                    self._kernel(op, extent)
                else:
                    loops.append(functools.partial(self._kernel, op, extent))
            elif isinstance(op, DimShuffle):  # a view: the same memory, other strides
                source = self.arrays[op.operands[0]]
                self.arrays[op.results[0]] = ArrayRef(
                    source.dtype,
                    source.pointer,
                    [I64(1) if p == -1 else source.shape[p] for p in op.pattern],
                    [I64(0) if p == -1 else source.strides[p] for p in op.pattern],
                    op.results[0].type.shape,
                )
            elif isinstance(op, SHAPE_OPS):
                self.shape_ops.lower(op, destination, loops)
            elif isinstance(op, Dot):
                a, b = self.arrays[op.operands[0]], self.arrays[op.operands[1]]
                extent = a.shape[:-1] + b.shape[1:]
                self._result_buffers(op, extent, destination)
                loops.append(
                    functools.partial(emit_dot, self.builder, a, b, self.arrays[op.results[0]].pointer)
                )
            elif isinstance(op, BatchedDot):
                a, b = self.arrays[op.operands[0]], self.arrays[op.operands[1]]
                extent = [a.shape[0], a.shape[1], b.shape[2]]
                self._result_buffers(op, extent, destination)
                out = self.arrays[op.results[0]]
                loops.append(functools.partial(emit_batched_dot, self.builder, a, b, out))
            elif isinstance(op, Reduce):
                source = self.arrays[op.operands[0]]
                keep = bool(op.attributes["keepdims"])
                extent = [
                    I64(1) if a in op.axes else d
                    for a, d in enumerate(source.shape)
                    if keep or a not in op.axes
                ]
                self._result_buffers(op, extent, destination)
                if op.kind in ("argmax", "argmin"):  # the best values so far, beside their indices
                    self._scratch[op] = self._allocate(source.dtype, extent)
                elif (wide := wide_accumulator(op)) is not None:  # float32 column sums, say
                    self._scratch[op] = self._allocate(wide, extent)
                if op in self.groups:
                    loops.append(functools.partial(self._reduce_group, self.groups[op], extent))
                elif op not in grouped:
                    loops.append(functools.partial(self._reduce, op, extent))
            elif isinstance(op, (Gather, ScatterAdd)):
                source = self.arrays[op.operands[0]]
                extent = indexing_extent(op, self.arrays) if isinstance(op, Gather) else list(source.shape)
                self._result_buffers(op, extent, destination)
                loops.append(functools.partial(self._indexing, op))
            elif isinstance(op, RandomOp):
                extent = self._random_extent(op)
                self._result_buffers(op, extent, destination)
                if isinstance(op, RandomPermutation):  # the whole population is shuffled
                    self._scratch[op] = self._allocate(DType.I64, [I64(op.attributes["population"])])
                elif isinstance(op, RandomChoice):  # indices or running sums, one per value
                    self._scratch[op] = self._allocate(DType.I64, [self.arrays[op.values].shape[0]])
                loops.append(functools.partial(self._random, op, extent))
            elif op.name not in ("return", "tx.store"):
                raise TcCompilationError(
                    f"the CPU backend lowers fused kernels only; '{op.name}' at {op.location} "
                    "was not fused (run the 'fuse' pass)"
                )
        for loop in loops:
            loop()
        for value, slot in targets:
            if destination.get(value) is not slot[0]:
                self._copy(self.arrays[value], slot)
        free = self._free_fn()
        for ptr in self.temporaries:
            self.builder.call(free, [ptr])
        self.builder.ret(I32(0))
        self.index_failure.finish(lambda b: [b.call(free, [ptr]) for ptr in self.temporaries])
        with self.builder.goto_block(self.fail_block):
            self.builder.ret(I32(1))
        return EntryPoint(symbol, ranks)

    def _slot(self, data: ll.Value, dims: ll.Value, index: int, ranks: tuple[int, ...]):  # type: ignore[no-untyped-def]
        b = self.builder
        pointer = b.load(b.gep(data, [I64(index)]), name=f"slot{index}")
        offset = 2 * sum(ranks[:index])
        rank = ranks[index]
        shape = [b.load(b.gep(dims, [I64(offset + a)]), name=f"slot{index}.dim{a}") for a in range(rank)]
        strides = [
            b.load(b.gep(dims, [I64(offset + rank + a)]), name=f"slot{index}.stride{a}") for a in range(rank)
        ]
        return pointer, shape, strides

    def _constant(self, op: Constant) -> ArrayRef:
        array = np.ascontiguousarray(op.value)
        dtype = op.result.type.dtype
        elem = memory_type(dtype)
        flat = array.reshape(-1).astype(np.uint8 if dtype.is_bool else array.dtype)
        const = ll.Constant(ll.ArrayType(elem, flat.size), [ll.Constant(elem, v.item()) for v in flat])
        glob = ll.GlobalVariable(self.module, const.type, name=self.module.get_unique_name("const"))
        glob.global_constant = True
        glob.linkage = "internal"
        glob.initializer = const
        pointer = self.builder.bitcast(glob, I8_PTR)
        shape = [I64(d) for d in array.shape]
        strides = [I64(s) for s in array.strides]
        return ArrayRef(dtype, pointer, shape, strides, tuple(array.shape))

    def _shape_of(self, source: ArrayRef) -> ArrayRef:
        """A run-time shape as a small int64 array on the stack."""
        b = self.builder
        rank = len(source.shape)
        pointer = b.alloca(I64, size=I32(max(rank, 1)))
        for axis, dim in enumerate(source.shape):
            b.store(dim, b.gep(pointer, [I32(axis)]))
        return ArrayRef(DType.I64, b.bitcast(pointer, I8_PTR), [I64(rank)], [I64(8)], (rank,))

    def _size_of(self, source: ArrayRef, axes: tuple[int, ...]) -> ArrayRef:
        """The number of elements along `axes`, as an int64 scalar on the stack."""
        b = self.builder
        count: ll.Value = I64(1)
        for axis in axes:
            count = b.mul(count, source.shape[axis])
        pointer = b.alloca(I64)
        b.store(count, pointer)
        return ArrayRef(DType.I64, b.bitcast(pointer, I8_PTR), [], [], ())

    def _extent(self, op: KernelElementwise) -> list[ll.Value]:
        result_shape = op.results[0].type.shape
        rank = len(result_shape)
        extent: list[ll.Value] = []
        for axis, static in enumerate(result_shape):
            if static is not None:
                extent.append(I64(static))
                continue
            for operand in op.operands:
                arr = self.arrays[operand]
                local = axis - (rank - len(arr.shape))
                if local >= 0 and arr.static_shape[local] is None:
                    extent.append(arr.shape[local])
                    break
            else:
                raise TcCompilationError(f"cannot find the run-time size of axis {axis} of {op.name}")
        return extent

    def _kernel_buffers(self, op: KernelElementwise, destination: dict[Value, ll.Value]) -> list[ll.Value]:
        """The kernel's run-time extent, after giving its results their buffers."""
        extent = self._extent(op)
        self._result_buffers(op, extent, destination)
        return extent

    def _result_buffers(
        self, op: Operation, extent: list[ll.Value], destination: dict[Value, ll.Value]
    ) -> None:
        """Each result's buffer: its destination slot, or a temporary (allocated now)."""
        b = self.builder
        static = op.results[0].type.shape
        for result in op.results:
            pointer = destination.get(result)
            if pointer is None:
                pointer = self._allocate(result.type.dtype, extent)
            strides = _contiguous_strides(b, extent, result.type.dtype.itemsize)
            self.arrays[result] = ArrayRef(result.type.dtype, pointer, extent, strides, static)

    def _reduce_group(self, group: list[Reduce], extent: list[ll.Value]) -> None:
        """Several fused reductions of the same operands, in one loop nest."""
        emitter = ScalarEmitter(self.builder, self.math)
        source = self.arrays[group[0].operands[0]]
        kernels = [self.fused[op.operands[0]] for op in group]
        operands = [self.arrays[v] for v in kernels[0].operands]
        members = []
        for op, kernel in zip(group, kernels, strict=True):
            body = kernel_body(kernel, self.math)
            members.append(
                Member(
                    op,
                    self.arrays[op.results[0]].pointer,
                    self._scratch.get(op),
                    _element_of(body),
                    op.operands[0].type.dtype,
                )
            )
        strides = [broadcast_strides(arr, source.static_shape) for arr in operands]
        emit_reductions(emitter, members, operands, strides, source.shape, extent)

    def _reduce(self, op: Reduce, extent: list[ll.Value]) -> None:
        emitter = ScalarEmitter(self.builder, self.math)
        source = self.arrays[op.operands[0]]
        producer = None
        kernel = self.fused.get(op.operands[0])
        if kernel is not None:
            operands = [self.arrays[v] for v in kernel.operands]
            body = kernel_body(kernel, self.math)
            producer = Producer(
                operands,
                [broadcast_strides(arr, source.static_shape) for arr in operands],
                _element_of(body),
            )
        output = self.arrays[op.results[0]].pointer
        emit_reduce(emitter, op, source, output, extent, self._scratch.get(op), producer)

    def _indexing(self, op: Gather | ScatterAdd) -> None:
        emit = emit_gather if isinstance(op, Gather) else emit_scatter_add
        output = self.arrays[op.results[0]]
        emit(self.builder, op, self.arrays, output, self.index_failure, self.first_check[op])  # type: ignore[arg-type]

    def _random_extent(self, op: RandomOp) -> list[ll.Value]:
        """Each dimension of a draw: from the result type, or read from the size operand."""
        size = self.arrays[op.size_operand] if op.size_operand is not None else None
        extent: list[ll.Value] = []
        for axis, dim in enumerate(op.results[0].type.shape):
            if dim is not None:
                extent.append(I64(dim))
                continue
            assert size is not None  # the verifier guarantees one where a dimension is `?`
            address = self.builder.gep(
                self.builder.bitcast(size.pointer, I8_PTR), [self.builder.mul(I64(axis), size.strides[0])]
            )
            extent.append(self.builder.load(self.builder.bitcast(address, I64.as_pointer())))
        return extent

    def _random(self, op: RandomOp, extent: list[ll.Value]) -> None:
        state = self.arrays[op.operands[0]]
        params = [self.arrays[v] for v in op.params]
        output = self.arrays[op.results[0]].pointer
        if isinstance(op, RandomPermutation):
            emit_permutation(self.builder, op, state, output, self._scratch[op])
            return
        if isinstance(op, RandomChoice):
            weights = self.arrays[op.weights] if op.weights is not None else None
            emit_choice(self.builder, op, state, self.arrays[op.values], weights, output, self._scratch[op])
            return
        count: ll.Value = I64(1)
        for dim in extent:
            count = self.builder.mul(count, dim)
        name = self.module.get_unique_name(f"{self.function.name}.random")
        emit_random(self.builder, name, op, state, params, output, count)

    def _kernel(self, op: KernelElementwise, extent: list[ll.Value]) -> None:
        outputs = [(r.type.dtype, self.arrays[r].pointer) for r in op.results]
        name = self.module.get_unique_name(f"{self.function.name}.kernel")
        operands = [self.arrays[v] for v in op.operands]
        static = op.results[0].type.shape
        body = kernel_body(op, self.math)
        emit_elementwise_loop(self.builder, name, extent, static, operands, outputs, body)

    def _copy(self, source: ArrayRef, slot) -> None:  # type: ignore[no-untyped-def]
        pointer, shape, _ = slot
        name = self.module.get_unique_name(f"{self.function.name}.copy")
        identity = KernelBody(
            fast=lambda b, values: (values, None), exact=lambda b, values: values, has_fallback=False
        )
        emit_elementwise_loop(
            self.builder, name, shape, source.static_shape, [source], [(source.dtype, pointer)], identity
        )

    def _allocate(self, dtype, extent: list[ll.Value]) -> ll.Value:  # type: ignore[no-untyped-def]
        b = self.builder
        size: ll.Value = I64(max(dtype.itemsize, 1))
        overflow: ll.Value = I1(0)
        for dim in extent:
            # A byte count past 2**63 would wrap to a small buffer the loops then overrun:
            # fail as an allocation failure instead.
            product = b.smul_with_overflow(size, dim)
            size = b.extract_value(product, 0)
            overflow = b.or_(overflow, b.extract_value(product, 1))
        checked = b.append_basic_block("size_ok")
        b.cbranch(overflow, self.fail_block, checked)
        b.position_at_end(checked)
        malloc = self.module.globals.get("malloc") or ll.Function(
            self.module, ll.FunctionType(I8_PTR, [I64]), "malloc"
        )
        # malloc(0) may return NULL legitimately; ask for at least one byte.
        pointer = b.call(malloc, [b.select(b.icmp_signed("==", size, I64(0)), I64(1), size)])
        ok = b.append_basic_block("allocated")
        b.cbranch(b.icmp_unsigned("==", pointer, ll.Constant(I8_PTR, None)), self.fail_block, ok)
        b.position_at_end(ok)
        self.temporaries.append(pointer)
        return pointer

    def _free_fn(self) -> ll.Function:
        return self.module.globals.get("free") or ll.Function(
            self.module, ll.FunctionType(ll.VoidType(), [I8_PTR]), "free"
        )


def _element_of(body: KernelBody) -> Callable[[ll.IRBuilder, list[ll.Value]], ll.Value]:
    """A fused kernel's one result, computed where a reduction needs it: with the vectorisable
    math unless the kernel may ask for exact math (a reduction has no second pass to redo)."""
    if body.has_fallback:
        return lambda builder, values: body.exact(builder, values)[0]
    return lambda builder, values: body.fast(builder, values)[0][0]


def _contiguous_strides(builder: ll.IRBuilder, extent: list[ll.Value], itemsize: int) -> list[ll.Value]:
    strides: list[ll.Value] = []
    running: ll.Value = I64(itemsize)
    for dim in reversed(extent):
        strides.insert(0, running)
        running = builder.mul(running, dim)
    return strides
