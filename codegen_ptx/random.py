"""Philox draws on the GPU: uniform, normal, integers and binomial, one kernel each.

Each element's value depends only on its index and the stream state (see
`ir.ops.random`), so the kernel is a grid-stride loop over the elements that
builds every value with the CPU code generator's own emitters
(`codegen_llvm.random`): the numbers are bit for bit the CPU's. Normals are
made in pairs from one Philox block, so their loop runs over pairs, as the CPU
loop does; the last pair of an odd count stores its first element only.

The draw counter's update (state + [0, 1]) is a separate elementwise op in the
IR: these kernels only read the state.

Parameters, in order:
  i64 n; the result's pointer; the state's pointer (int64) and its element
  stride (the key is at 0, the draw count at the stride); then per parameter
  of the op its value (a host scalar, by value in its memory type) or a
  pointer to its single element (a scalar computed on the device).

RandomPermutation and RandomChoice shuffle on one thread, in order: they have
no GPU lowering yet (`build_program` says so).
"""

from __future__ import annotations

import math

import numpy as np

from ..codegen_llvm import llvm_ir as ll
from ..codegen_llvm.random import _normal_pair, _sample
from ..codegen_llvm.types import I64, load_element, memory_type, store_element
from ..ir import TcCompilationError, TcValueError
from ..ir.ops.random import RandomBinomial, RandomIntegers, RandomNormal, RandomOp, RandomUniform
from .elementwise import param_type, scalar_value
from .grid import KernelTarget
from .launch import BLOCK, Device, grid_for
from .loops import grid_stride_loop, mark_noalias
from .program import ProgramBuilder, Runtime, Step, as_device, device_step, scalar_argument


def emit_random(
    target: KernelTarget, module: ll.Module, name: str, op: RandomOp, by_value: tuple[bool, ...]
) -> None:
    """The kernel `name` filling a contiguous result with `op`'s draw; parameter k is a
    host scalar passed by value where `by_value[k]`, else a pointer to one element."""
    dtype = op.results[0].type.dtype
    param_dtypes = [p.type.dtype for p in op.params]
    params: list[ll.Type] = [I64, memory_type(dtype).as_pointer(), I64.as_pointer(), I64]
    params += [param_type(d, bv) for d, bv in zip(param_dtypes, by_value, strict=True)]
    fn = target.kernel(module, name, params)
    mark_noalias(fn)
    n, out, state, stride, *param_args = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    key = b.load(state)
    draws = b.load(b.gep(state, [stride]))
    values = [
        scalar_value(b, d, arg) if bv else load_element(b, d, arg)
        for d, arg, bv in zip(param_dtypes, param_args, by_value, strict=True)
    ]
    library = target.math(module)
    if isinstance(op, RandomNormal):
        pairs = b.lshr(b.add(n, I64(1)), I64(1))
        with grid_stride_loop(target, b, pairs, "pair") as pair:
            first, second = _normal_pair(b, op, pair, key, draws, values, library)
            index = b.shl(pair, I64(1))
            store_element(b, dtype, first, b.gep(out, [index]))
            following = b.add(index, I64(1))
            with b.if_then(b.icmp_unsigned("<", following, n)):
                store_element(b, dtype, second, b.gep(out, [following]))
    else:
        with grid_stride_loop(target, b, n, "draw") as index:
            value = _sample(b, op, index, key, draws, values, library)
            store_element(b, dtype, value, b.gep(out, [index]))
    b.ret_void()


def result_shape(op: RandomOp, size: np.ndarray | None) -> tuple[int, ...]:
    """The draw's shape: the result type's dimensions, `?` ones read from the size operand."""
    shape = []
    for axis, dim in enumerate(op.results[0].type.shape):
        if dim is None:
            assert size is not None  # the verifier guarantees one where a dimension is `?`
            dim = int(size[axis])
            if dim < 0:
                raise TcValueError(f"{op.name} at {op.location}: negative size {size.tolist()}")
        shape.append(dim)
    return tuple(shape)


@device_step(RandomUniform, RandomNormal, RandomIntegers, RandomBinomial)
def _random_step(builder: ProgramBuilder, op: RandomOp) -> Step:
    operand_by_value = builder.by_value(op)
    if operand_by_value[0]:  # placement never puts a rank-1 state on the host; be safe anyway
        operand_by_value = (False, *operand_by_value[1:])
    by_value = operand_by_value[1 : 1 + op.num_params]
    for param in op.params:
        if param.type.rank != 0:  # the verifier forbids it; broadcast parameters need strides
            raise TcCompilationError(
                f"'{op.name}' at {op.location} has a non-scalar parameter ({param.type}), "
                "which the GPU lowering does not support"
            )
    name = builder.kernel_name(op.name.replace("tx.", ""))
    emit_random(builder.target, builder.module, name, op, by_value)
    dtype = op.results[0].type.dtype
    has_size = op.size_operand is not None

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        size = None
        if has_size:
            given = operands[1 + op.num_params]
            size = np.asarray(given) if isinstance(given, np.ndarray) else device.download(given)
        shape = result_shape(op, size)
        result = device.empty(shape, dtype)
        n = math.prod(shape)
        if n == 0:
            return [result]
        state = as_device(device, operands[0])
        if state.shape[0] != 2:
            raise TcValueError(f"{op.name}: the stream state must hold 2 values, found {state.shape}")
        values: list[int | float] = [n, result.pointer, state.pointer, state.strides[0]]
        for value, bv in zip(operands[1 : 1 + op.num_params], by_value, strict=True):
            values.append(scalar_argument(value) if bv else as_device(device, value).pointer)
        work = (n + 1) // 2 if isinstance(op, RandomNormal) else n
        device.launch(name, grid_for(work, device, name), BLOCK, values)
        return [result]

    return run
