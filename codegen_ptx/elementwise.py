"""Fused elementwise kernels: one `kernel.elementwise` op, two GPU kernels.

Both walk the result in a grid-stride loop, so any grid size is correct.

`<name>_vec` (the fast one): every operand is either a full, C-contiguous
array of the result's shape aligned to 16 bytes, or a single element (an
operand whose static shape is all ones, or a host scalar passed by value).
Each thread handles VEC consecutive elements with one vector load per
operand and one vector store per result (128-bit where the dtype allows);
the last `n % VEC` elements are done one by one.

`<name>_strided` (any broadcasting and any strides): each linear index is
split into the result's multi-index, and each operand's offset is the dot
product with its element strides (0 along broadcast axes).

Parameters, in order (the runtime packs them, see runtime/cuda_function.py):
  i64 n; one pointer per result; per operand its value (a host scalar, by
  value in its memory type) or its pointer; strided only: i64 dims[rank],
  then for each pointer operand i64 strides[rank] (in elements).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..codegen_llvm import llvm_ir as ll
from ..codegen_llvm.kernel_body import kernel_body
from ..codegen_llvm.types import I8, I64, load_element, memory_type, store_element
from ..ir import DType, TensorType
from ..ir.ops.kernel import KernelElementwise, KernelReduce
from .grid import KernelTarget
from .launch import BLOCK, Device, broadcast_shape, contiguous_strides, element_strides, grid_for
from .loops import grid_stride_loop, mark_noalias
from .program import ProgramBuilder, Runtime, Step, as_device, device_step, scalar_argument

# An op whose body the kernels run: its operands are read, its yielded values stored.
Body = KernelElementwise | KernelReduce
VEC = 4  # elements per thread in the vector kernel (16 bytes of float32)


@dataclass(frozen=True)
class ElementwiseKernels:
    """The names of one op's kernels and how their parameters are laid out."""

    vec: str
    strided: str
    rank: int
    by_value: tuple[bool, ...]  # per operand: passed by value (a host scalar)
    single: tuple[bool, ...]  # per operand: read at index 0 in the vector kernel
    result_dtypes: tuple[DType, ...]  # the yielded values', stored in full


def param_type(dtype: DType, by_value: bool) -> ll.Type:
    return memory_type(dtype) if by_value else memory_type(dtype).as_pointer()


def emit_elementwise(
    target: KernelTarget,
    module: ll.Module,
    name: str,
    op: KernelElementwise | KernelReduce,
    by_value: tuple[bool, ...],
    result_types: Sequence[TensorType] | None = None,
) -> ElementwiseKernels:
    """Both kernels of `op`'s body; operand k is a host scalar passed by value where
    `by_value[k]`. They store every yielded value, typed `result_types` (by default the
    op's results: a kernel.reduce's body stores the elements it would reduce)."""
    types = [r.type for r in op.results] if result_types is None else list(result_types)
    rank = types[0].rank
    single = tuple(
        bv or all(d == 1 for d in v.type.shape) for bv, v in zip(by_value, op.operands, strict=True)
    )
    dtypes = tuple(t.dtype for t in types)
    kernels = ElementwiseKernels(f"{name}_vec", f"{name}_strided", rank, by_value, single, dtypes)
    _emit_vector(target, module, kernels, op)
    _emit_strided(target, module, kernels, op)
    return kernels


def _params(op: Body, kernels: ElementwiseKernels) -> list[ll.Type]:
    params: list[ll.Type] = [I64]
    params += [memory_type(dtype).as_pointer() for dtype in kernels.result_dtypes]
    params += [param_type(v.type.dtype, bv) for v, bv in zip(op.operands, kernels.by_value, strict=True)]
    return params


def scalar_value(b: ll.IRBuilder, dtype: DType, value: ll.Value) -> ll.Value:
    """A by-value parameter in its register type (a bool arrives as i8)."""
    return b.icmp_unsigned("!=", value, I8(0)) if dtype is DType.BOOL else value


def _emit_vector(target: KernelTarget, module: ll.Module, kernels: ElementwiseKernels, op: Body) -> None:
    fn = target.kernel(module, kernels.vec, _params(op, kernels))
    mark_noalias(fn)
    count = len(kernels.result_dtypes)
    n, results, operands = fn.args[0], fn.args[1 : 1 + count], fn.args[1 + count :]
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    body = kernel_body(op, target.math(module))
    dtypes = [v.type.dtype for v in op.operands]
    # Values that are the same for every element: loaded (or converted) once.
    fixed: dict[int, ll.Value] = {}
    for k, (dtype, arg) in enumerate(zip(dtypes, operands, strict=True)):
        if kernels.by_value[k]:
            fixed[k] = scalar_value(b, dtype, arg)
        elif kernels.single[k]:
            fixed[k] = load_element(b, dtype, arg)
    chunks = b.udiv(n, I64(VEC))
    with grid_stride_loop(target, b, chunks, "chunk") as chunk:
        first = b.mul(chunk, I64(VEC))
        lanes: list[list[ll.Value]] = [[] for _ in range(VEC)]
        for k, (dtype, arg) in enumerate(zip(dtypes, operands, strict=True)):
            if k in fixed:
                for lane in lanes:
                    lane.append(fixed[k])
                continue
            vector = b.load(_vector_pointer(b, arg, first, dtype), align=_alignment(dtype))
            for j, lane in enumerate(lanes):
                element = b.extract_element(vector, I64(j))
                lane.append(b.icmp_unsigned("!=", element, I8(0)) if dtype is DType.BOOL else element)
        values = [body.exact(b, lane) for lane in lanes]
        for r, (dtype, pointer) in enumerate(zip(kernels.result_dtypes, results, strict=True)):
            vector: ll.Value = ll.Constant(ll.VectorType(memory_type(dtype), VEC), None)
            for j in range(VEC):
                element = values[j][r]
                if dtype is DType.BOOL:
                    element = b.zext(element, I8)
                vector = b.insert_element(vector, element, I64(j))
            b.store(vector, _vector_pointer(b, pointer, first, dtype), align=_alignment(dtype))
    # The tail: the last n % VEC elements, one per thread.
    tail = b.sub(n, b.mul(chunks, I64(VEC)))
    with grid_stride_loop(target, b, tail, "tail") as offset:
        index = b.add(b.mul(chunks, I64(VEC)), offset)
        values = []
        for k, (dtype, arg) in enumerate(zip(dtypes, operands, strict=True)):
            values.append(fixed[k] if k in fixed else load_element(b, dtype, b.gep(arg, [index])))
        for dtype, pointer, value in zip(kernels.result_dtypes, results, body.exact(b, values), strict=True):
            store_element(b, dtype, value, b.gep(pointer, [index]))
    b.ret_void()


def _emit_strided(target: KernelTarget, module: ll.Module, kernels: ElementwiseKernels, op: Body) -> None:
    rank = kernels.rank
    pointer_operands = [k for k, bv in enumerate(kernels.by_value) if not bv]
    params = _params(op, kernels) + [I64] * (rank * (1 + len(pointer_operands)))
    fn = target.kernel(module, kernels.strided, params)
    mark_noalias(fn)
    stored = len(kernels.result_dtypes)
    count = 1 + stored + len(op.operands)
    n, results, operands = fn.args[0], fn.args[1 : 1 + stored], fn.args[1 + stored : count]
    dims = fn.args[count : count + rank]
    strides = {
        k: fn.args[count + rank * (1 + j) : count + rank * (2 + j)] for j, k in enumerate(pointer_operands)
    }
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    body = kernel_body(op, target.math(module))
    dtypes = [v.type.dtype for v in op.operands]
    fixed = {k: scalar_value(b, dtypes[k], operands[k]) for k in range(len(dtypes)) if kernels.by_value[k]}
    with grid_stride_loop(target, b, n, "element") as index:
        offsets = {k: I64(0) for k in pointer_operands}
        rest = index
        for axis in reversed(range(rank)):
            position = b.urem(rest, dims[axis])
            rest = b.udiv(rest, dims[axis])
            for k in pointer_operands:
                offsets[k] = b.add(offsets[k], b.mul(position, strides[k][axis]))
        values = [
            fixed[k] if k in fixed else load_element(b, dtype, b.gep(operands[k], [offsets[k]]))
            for k, dtype in enumerate(dtypes)
        ]
        for dtype, pointer, value in zip(kernels.result_dtypes, results, body.exact(b, values), strict=True):
            store_element(b, dtype, value, b.gep(pointer, [index]))
    b.ret_void()


def _vector_pointer(b: ll.IRBuilder, pointer: ll.Value, first: ll.Value, dtype: DType) -> ll.Value:
    vector_type = ll.VectorType(memory_type(dtype), VEC)
    return b.bitcast(b.gep(pointer, [first]), vector_type.as_pointer())


def _alignment(dtype: DType) -> int:
    return min(16, VEC * dtype.itemsize)


@device_step(KernelElementwise)
def _elementwise_step(builder: ProgramBuilder, op: KernelElementwise) -> Step:  # type: ignore[override]
    by_value = builder.by_value(op)
    kernels = emit_elementwise(
        builder.target, builder.module, builder.kernel_name("elementwise"), op, by_value
    )
    builder.add_kernels(kernels.vec, kernels.strided)
    return elementwise_launcher(kernels)


def elementwise_launcher(kernels: ElementwiseKernels) -> Step:
    """The step that runs `kernels` (from `emit_elementwise`) on its operands: a fresh array
    for each stored value, at the broadcast shape of the operands."""
    by_value, rank = kernels.by_value, kernels.rank
    # Decided now, not per call: which operands are pointers, and which of those the vector
    # kernel reads whole (the others it reads at index 0, or they come by value).
    pointers = [k for k, bv in enumerate(by_value) if not bv]
    whole = [k for k in pointers if not kernels.single[k]]

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        arrays = [v if bv else as_device(device, v) for v, bv in zip(operands, by_value, strict=True)]
        shapes = [tuple(arrays[k].shape) for k in pointers]
        shape = (
            shapes[0]
            if shapes and len(set(shapes)) == 1 and len(shapes[0]) == rank
            else broadcast_shape(shapes, rank)
        )
        results = [device.empty(shape, dtype) for dtype in kernels.result_dtypes]
        n = math.prod(shape)
        if n == 0:
            return results
        values: list[int | float] = [n, *[r.pointer for r in results]]
        values += [scalar_argument(a) if bv else a.pointer for a, bv in zip(arrays, by_value, strict=True)]
        dense = contiguous_strides(shape)
        fast = all(
            tuple(arrays[k].shape) == shape
            and tuple(arrays[k].strides) == dense
            and arrays[k].pointer % 16 == 0
            for k in whole
        )
        if fast:
            device.launch(kernels.vec, grid_for(-(-n // VEC), device, kernels.vec), BLOCK, values)
            return results
        values += list(shape)
        for k in pointers:
            values += element_strides(arrays[k], shape)
        device.launch(kernels.strided, grid_for(n, device, kernels.strided), BLOCK, values)
        return results

    return run
