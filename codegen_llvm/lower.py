"""Lower one IR function to one native entry point with a plain C ABI.

    int32_t tc_<name>(void **data, int64_t *dims)

`data` holds one pointer per array slot: the function's arguments in
order, then its results. `dims` holds, slot after slot, the slot's shape
then its byte strides (rank values each; nothing for a scalar). Result
slots are C-contiguous buffers the caller allocated with the shapes of
`ir.shapes`. The caller has checked every shape before the call, so the
code never reads out of bounds. Returns 0, or 1 when a temporary buffer
could not be allocated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from llvmlite import ir as ll

from ..ir import Function, TcCompilationError, Value
from ..ir.ops.builtin import Constant
from ..ir.ops.kernel import KernelElementwise
from .loops import ArrayRef, KernelBody, emit_elementwise_loop
from .scalar import MathLibrary, ScalarEmitter, needs_fallback
from .types import I8_PTR, I32, I64, memory_type, register_type


@dataclass(frozen=True)
class EntryPoint:
    """What the runtime needs to call the lowered function."""

    symbol: str
    slot_ranks: tuple[int, ...]  # arguments then results


def entry_symbol(function: Function) -> str:
    return f"tc_{function.name}"


def lower_function(function: Function, module: ll.Module) -> EntryPoint:
    return _FunctionLowering(function, module).lower()


class _FunctionLowering:
    def __init__(self, function: Function, module: ll.Module) -> None:
        self.function = function
        self.module = module
        self.math = MathLibrary(module)
        self.arrays: dict[Value, ArrayRef] = {}
        self.temporaries: list[ll.Value] = []

    def lower(self) -> EntryPoint:
        function = self.function
        returned = list(function.return_op.operands)
        ranks = tuple(v.type.rank for v in function.args) + tuple(v.type.rank for v in returned)
        symbol = entry_symbol(function)
        fn_type = ll.FunctionType(I32, [I8_PTR.as_pointer(), I64.as_pointer()])
        fn = ll.Function(self.module, fn_type, symbol)
        data, dims = fn.args
        data.name, dims.name = "data", "dims"
        for arg in (data, dims):
            arg.add_attribute("nocapture")
        self.builder = ll.IRBuilder(fn.append_basic_block("entry"))
        self.fail_block = fn.append_basic_block("out_of_memory")

        slots = [self._slot(data, dims, index, ranks) for index in range(len(ranks))]
        for arg, slot in zip(function.args, slots[: len(function.args)], strict=True):
            self.arrays[arg] = ArrayRef(arg.type.dtype, slot[0], slot[1], slot[2], arg.type.shape)
        outputs = slots[len(function.args) :]
        # A kernel result that is returned is computed straight into its result slot.
        destination: dict[Value, ll.Value] = {}
        for value, slot in zip(returned, outputs, strict=True):
            if isinstance(value.owner, KernelElementwise):
                destination.setdefault(value, slot[0])

        for op in function.body.ops:
            if isinstance(op, Constant):
                self.arrays[op.result] = self._constant(op)
            elif isinstance(op, KernelElementwise):
                self._kernel(op, destination)
            elif op.name == "return":
                for value, slot in zip(returned, outputs, strict=True):
                    if destination.get(value) is not slot[0]:
                        self._copy(self.arrays[value], slot)
            else:
                raise TcCompilationError(
                    f"the CPU backend lowers fused kernels only; '{op.name}' at {op.location} "
                    "was not fused (run the 'fuse' pass)"
                )
        free = self._free_fn()
        for ptr in self.temporaries:
            self.builder.call(free, [ptr])
        self.builder.ret(I32(0))
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

    def _kernel(self, op: KernelElementwise, destination: dict[Value, ll.Value]) -> None:
        b = self.builder
        extent = self._extent(op)
        static = op.results[0].type.shape
        outputs = []
        for result in op.results:
            pointer = destination.get(result)
            if pointer is None:
                pointer = self._allocate(result.type.dtype, extent)
            outputs.append((result.type.dtype, pointer))
            self.arrays[result] = ArrayRef(
                result.type.dtype,
                pointer,
                extent,
                _contiguous_strides(b, extent, result.type.dtype.itemsize),
                static,
            )
        name = self.module.get_unique_name(f"{self.function.name}.kernel")
        operands = [self.arrays[v] for v in op.operands]
        emit_elementwise_loop(b, name, extent, static, operands, outputs, self._kernel_body(op))

    def _kernel_body(self, op: KernelElementwise) -> KernelBody:
        block = op.body.block

        def emit(builder: ll.IRBuilder, values: list[ll.Value], fast: bool):  # type: ignore[no-untyped-def]
            emitter = ScalarEmitter(builder, self.math, vector_math=fast)
            env: dict[Value, ll.Value] = dict(zip(block.args, values, strict=True))
            for inner in block.ops:
                if inner.name == "kernel.yield":
                    return [env[v] for v in inner.operands], emitter.inexact
                if isinstance(inner, Constant):
                    dtype = inner.result.type.dtype
                    env[inner.result] = ll.Constant(register_type(dtype), inner.value.item())
                    continue
                env[inner.result] = emitter.emit(inner, [env[v] for v in inner.operands])
            raise TcCompilationError("kernel body without kernel.yield")

        return KernelBody(
            fast=lambda builder, values: emit(builder, values, True),
            exact=lambda builder, values: emit(builder, values, False)[0],
            has_fallback=any(needs_fallback(inner) for inner in block.ops),
        )

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
        for dim in extent:
            size = b.mul(size, dim)
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


def _contiguous_strides(builder: ll.IRBuilder, extent: list[ll.Value], itemsize: int) -> list[ll.Value]:
    strides: list[ll.Value] = []
    running: ll.Value = I64(itemsize)
    for dim in reversed(extent):
        strides.insert(0, running)
        running = builder.mul(running, dim)
    return strides
