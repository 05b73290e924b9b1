"""Reductions on the GPU: `tx.reduce` (sum, prod, mean, max, min, argmax, argmin).

At run time the source is any strided device array. Its axes are split into
the kept ones (the outputs, `n_out` of them, in the result's C order) and the
reduced ones (`n_inner` elements per output, in C order over the reduced axes:
argmax/argmin's index). The reduced axes are collapsed first (axes of length 1
dropped, neighbours that are contiguous with each other merged, then padded
back to the op's static count with (1, 0)), so a row-major row is one axis.

Three kernels per op (the strategy is chosen per call, see `plan`):

- `thread`: one thread per output, in a grid-stride loop over the outputs;
  each walks its inner elements in nested loops (no divisions). No barriers:
  the only kernel the host emulator runs, and on the GPU the right one for
  small inner counts and for reductions whose stride-1 axis is kept (the sums
  of a matrix's columns: neighbouring threads read neighbouring addresses).
- `block`: one block per output (a grid-stride loop over outputs, by blocks);
  the block's threads stride over the inner elements, then combine with warp
  shuffles (`shfl.sync.bfly`) and a shared-memory array of one slot per warp.
- `split` + `combine`: for few outputs with many inner elements (a full sum),
  each output's inner range is cut into `splits` chunks reduced by separate
  blocks into a scratch buffer of partial accumulators (and indices), then the
  `block` kernel's twin reduces each output's `splits` partials and finishes.

Accumulators: float32 sums and means add in float64 (per thread and through
the tree), rounded once at the end, so a thread's long sequential run loses
nothing; float64 sums stay float64; integer and bool sums and products follow
`reduce_dtype` (int64, wrapping); a float product stays in its dtype (as on
the CPU); max/min/argmax/argmin compare in the input's dtype. max/min
propagate nan; argmax/argmin pick the first nan, else the first extreme: the
combine of two (value, index) pairs breaks ties by the smaller index, so any
tree order gives numpy's answer. max, min, argmax and argmin of an empty
selection raise TcValueError before anything is launched; empty sums give 0,
products 1, means nan (0/0), as numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from llvmlite import ir as ll

from ..codegen_llvm.control import counted_loop
from ..codegen_llvm.scalar import ScalarEmitter, emit_cast
from ..codegen_llvm.types import F32, F64, I32, I64, load_element, memory_type, register_type, store_element
from ..ir import DType, TcValueError
from ..ir.ops.reduce import NEEDS_ELEMENTS, Reduce
from .grid import KernelTarget
from .launch import BLOCK, Device, DeviceArray
from .loops import grid_stride_loop
from .program import ProgramBuilder, Runtime, Step, as_device, device_step

WARP = 32
MAX_WARPS = 32  # shared slots: one per warp of a block of up to 1024 threads
FULL_MASK = 0xFFFFFFFF
NO_INDEX = (1 << 63) - 1  # the identity's index: loses every tie
# Strategy thresholds (see `plan`).
SMALL_INNER = 32  # a thread's own loop is as fast as a block's setup below this
MANY_OUTPUTS = 4096  # enough threads for `thread` on column-like reductions
SPLIT_MIN_CHUNK = BLOCK * 16  # elements a split block reduces at least
BLOCKS_PER_SM = 8  # resident 256-thread blocks per multiprocessor (2048 threads)


# ---------------------------------------------------------------------------- the strategy


@dataclass(frozen=True)
class Plan:
    strategy: str  # "thread", "block" or "split"
    splits: int = 1  # blocks per output ("split" only)


def plan(
    n_out: int, n_inner: int, inner_contiguous: bool, multiprocessors: int, block_reductions: bool
) -> Plan:
    """The kernel for one call.

    - no barriers on this device (the emulator), or at most SMALL_INNER inner
      elements, or the stride-1 axis kept with at least MANY_OUTPUTS outputs
      (neighbouring threads then read neighbouring addresses): `thread`;
    - at least 2 blocks' worth of outputs per multiprocessor, or too few inner
      elements to give each of several blocks SPLIT_MIN_CHUNK of them: `block`;
    - otherwise `split`, into enough blocks to fill the device
      (multiprocessors * BLOCKS_PER_SM in all), each with SPLIT_MIN_CHUNK
      elements at least.
    """
    if not block_reductions or n_inner <= SMALL_INNER:
        return Plan("thread")
    if not inner_contiguous and n_out >= MANY_OUTPUTS:
        return Plan("thread")
    if n_out >= 2 * multiprocessors:
        return Plan("block")
    wanted = math.ceil(multiprocessors * BLOCKS_PER_SM / n_out)
    splits = max(1, min(wanted, n_inner // SPLIT_MIN_CHUNK))
    return Plan("split", splits) if splits > 1 else Plan("block")


def collapse(axes: list[tuple[int, int]], rank: int) -> list[tuple[int, int]]:
    """(dim, stride) pairs of the reduced axes, as few as keep the C-order index: length-1
    axes dropped, contiguous neighbours merged, padded in front with (1, 0) to `rank`."""
    if any(dim == 0 for dim, _ in axes):
        merged = [(0, 0)]
    else:
        merged = []
        for dim, stride in axes:
            if dim == 1:
                continue
            if merged and merged[-1][1] == dim * stride:
                merged[-1] = (merged[-1][0] * dim, stride)
            else:
                merged.append((dim, stride))
    assert len(merged) <= max(rank, 1)
    return [(1, 0)] * (rank - len(merged)) + merged if rank else []


# ---------------------------------------------------------------------------- one op's arithmetic


@dataclass(frozen=True)
class Spec:
    kind: str
    in_dtype: DType
    out_dtype: DType
    acc_dtype: DType  # what is accumulated (and what a partial holds)
    kept: int  # static counts of kept and reduced axes
    reduced: int

    @property
    def arg(self) -> bool:
        return self.kind in ("argmax", "argmin")


def spec_of(op: Reduce) -> Spec:
    source, result = op.operands[0].type, op.results[0].type
    kind = op.kind
    if kind in ("max", "min", "argmax", "argmin"):
        acc = source.dtype
    elif kind == "mean" or (kind == "sum" and result.dtype is DType.F32):
        acc = DType.F64
    else:
        acc = result.dtype
    reduced = len(op.axes)
    return Spec(kind, source.dtype, result.dtype, acc, source.rank - reduced, reduced)


class Arithmetic:
    """Identity, combine and finish of one reduction, emitted with builder `b`."""

    def __init__(self, spec: Spec, e: ScalarEmitter) -> None:
        self.spec = spec
        self.e = e
        self.b = e.b

    def identity(self) -> tuple[ll.Value, ll.Value]:
        kind, dtype = self.spec.kind, self.spec.acc_dtype
        ty = register_type(dtype)
        if kind in ("sum", "mean"):
            value = ll.Constant(ty, 0.0 if dtype.is_float else 0)
        elif kind == "prod":
            value = ll.Constant(ty, 1.0 if dtype.is_float else 1)
        else:
            largest = kind in ("min", "argmin")
            if dtype.is_float:
                value = ll.Constant(ty, math.inf if largest else -math.inf)
            elif dtype.is_bool:
                value = ll.Constant(ty, int(largest))
            else:
                info = np.iinfo(dtype.numpy)
                value = ll.Constant(ty, int(info.max if largest else info.min))
        return value, I64(NO_INDEX)

    def element(self, value: ll.Value) -> ll.Value:
        """A loaded source element as an accumulator value."""
        return emit_cast(self.e, self.spec.in_dtype, self.spec.acc_dtype, value)

    def combine(
        self, acc: ll.Value, index: ll.Value, value: ll.Value, at: ll.Value
    ) -> tuple[ll.Value, ll.Value]:
        """(acc, index) combined with (value, at), in either order of the two."""
        b, e, kind, dtype = self.b, self.e, self.spec.kind, self.spec.acc_dtype
        if kind in ("sum", "mean"):
            return (b.fadd(acc, value) if dtype.is_float else b.add(acc, value)), index
        if kind == "prod":
            return (b.fmul(acc, value) if dtype.is_float else b.mul(acc, value)), index
        larger = kind in ("max", "argmax")
        strictly = e.cmp(dtype, ">" if larger else "<", value, acc)
        if kind in ("max", "min"):
            if dtype.is_float:  # the first nan stays
                first_nan = b.and_(e.isnan(value), b.not_(e.isnan(acc)))
                strictly = b.and_(b.or_(strictly, first_nan), b.not_(e.isnan(acc)))
            return b.select(strictly, value, acc), index
        earlier = b.icmp_signed("<", at, index)
        take = b.or_(strictly, b.and_(e.cmp(dtype, "==", value, acc), earlier))
        if dtype.is_float:
            value_nan, acc_nan = e.isnan(value), e.isnan(acc)
            take = b.select(acc_nan, b.and_(value_nan, earlier), b.or_(take, value_nan))
        return b.select(take, value, acc), b.select(take, at, index)

    def finish(self, acc: ll.Value, index: ll.Value, count: ll.Value) -> ll.Value:
        """The result element (register type) of an accumulator over `count` elements."""
        if self.spec.arg:
            return index
        if self.spec.kind == "mean":
            acc = self.b.fdiv(acc, self.b.sitofp(count, register_type(self.spec.acc_dtype)))
        return emit_cast(self.e, self.spec.acc_dtype, self.spec.out_dtype, acc)


# ---------------------------------------------------------------------------- emission helpers


def _entry_alloca(b: ll.IRBuilder, ty: ll.Type) -> ll.Value:
    """A stack slot in the entry block (mem2reg makes it a register)."""
    entry = b.function.entry_basic_block
    if b.block is entry:  # inserting before `b` would move its position
        return b.alloca(ty)
    at_start = ll.IRBuilder(entry)
    at_start.position_at_start(entry)
    return at_start.alloca(ty)


def _variables(b: ll.IRBuilder, values: tuple[ll.Value, ll.Value]) -> tuple[ll.Value, ll.Value]:
    slots = (_entry_alloca(b, values[0].type), _entry_alloca(b, I64))
    b.store(values[0], slots[0])
    b.store(values[1], slots[1])
    return slots


def _offset_of(b: ll.IRBuilder, index: ll.Value, dims: list[ll.Value], strides: list[ll.Value]) -> ll.Value:
    """The element offset of the C-order `index` over (dims, strides)."""
    offset: ll.Value = I64(0)
    rest = index
    for axis in reversed(range(len(dims))):
        if axis == 0:
            position = rest
        else:
            position = b.urem(rest, dims[axis])
            rest = b.udiv(rest, dims[axis])
        offset = b.add(offset, b.mul(position, strides[axis]))
    return offset


def _inner_offset(
    b: ll.IRBuilder, single: ll.Value, j: ll.Value, dims: list[ll.Value], strides: list[ll.Value]
) -> ll.Value:
    """_offset_of(j), with no division when the reduced axes collapsed to one (`single`)."""
    if not dims:
        return I64(0)
    if len(dims) == 1:
        return b.mul(j, strides[0])
    fast = b.append_basic_block("inner.fast")
    slow = b.append_basic_block("inner.slow")
    done = b.append_basic_block("inner.done")
    b.cbranch(single, fast, slow)
    b.position_at_end(fast)
    quick = b.mul(j, strides[-1])
    b.branch(done)
    b.position_at_end(slow)
    general = _offset_of(b, j, dims, strides)
    slow_end = b.block
    b.branch(done)
    b.position_at_end(done)
    phi = b.phi(I64)
    phi.add_incoming(quick, fast)
    phi.add_incoming(general, slow_end)
    return phi


def _split_ints(b: ll.IRBuilder, value: ll.Value) -> list[ll.Value]:
    """A register value as i32 words (what shfl moves)."""
    ty = value.type
    if isinstance(ty, ll.DoubleType):
        value = b.bitcast(value, I64)
        ty = I64
    if isinstance(ty, ll.FloatType):
        return [b.bitcast(value, I32)]
    assert isinstance(ty, ll.IntType)
    if ty.width == 64:
        return [b.trunc(value, I32), b.trunc(b.lshr(value, I64(32)), I32)]
    if ty.width < 32:
        return [b.zext(value, I32)]
    return [value]


def _join_ints(b: ll.IRBuilder, words: list[ll.Value], ty: ll.Type) -> ll.Value:
    if isinstance(ty, ll.FloatType):
        return b.bitcast(words[0], F32)
    if isinstance(ty, (ll.DoubleType, ll.IntType)) and len(words) == 2:
        joined = b.or_(b.zext(words[0], I64), b.shl(b.zext(words[1], I64), I64(32)))
        return b.bitcast(joined, F64) if isinstance(ty, ll.DoubleType) else joined
    assert isinstance(ty, ll.IntType)
    return b.trunc(words[0], ty) if ty.width < 32 else words[0]


def _shuffle_xor(b: ll.IRBuilder, value: ll.Value, lane_mask: int) -> ll.Value:
    """The `value` of lane (this lane ^ lane_mask): llvm.nvvm.shfl.sync.bfly.i32."""
    module = b.module
    name = "llvm.nvvm.shfl.sync.bfly.i32"
    fn = module.globals.get(name) or ll.Function(module, ll.FunctionType(I32, [I32] * 4), name)
    words = [b.call(fn, [I32(FULL_MASK), w, I32(lane_mask), I32(WARP - 1)]) for w in _split_ints(b, value)]
    return _join_ints(b, words, value.type)


def _barrier(b: ll.IRBuilder) -> None:
    module = b.module
    name = "llvm.nvvm.barrier0"
    fn = module.globals.get(name) or ll.Function(module, ll.FunctionType(ll.VoidType(), []), name)
    b.call(fn, [])


def _shared_array(module: ll.Module, name: str, ty: ll.Type) -> ll.GlobalVariable:
    array = ll.ArrayType(ty, MAX_WARPS)
    glob = ll.GlobalVariable(module, array, name, addrspace=3)
    glob.linkage = "internal"
    glob.initializer = ll.Constant(array, ll.Undefined)
    glob.align = 8
    return glob


def _store_shared(b: ll.IRBuilder, dtype: DType, value: ll.Value, slot: ll.Value) -> None:
    b.store(b.zext(value, memory_type(dtype)) if dtype.is_bool else value, slot)


def _load_shared(b: ll.IRBuilder, dtype: DType, slot: ll.Value) -> ll.Value:
    value = b.load(slot)
    return b.icmp_unsigned("!=", value, ll.Constant(value.type, 0)) if dtype.is_bool else value


def _when(b: ll.IRBuilder, condition: ll.Value) -> ll.IRBuilder:
    return b.if_then(condition)


# ---------------------------------------------------------------------------- kernels


def _mark_pointers(fn: ll.Function) -> None:
    for arg in fn.args:
        if isinstance(arg.type, ll.PointerType):
            arg.add_attribute("noalias")


def emit_thread_kernel(target: KernelTarget, module: ll.Module, name: str, spec: Spec) -> None:
    """Params: out, src, n_out, n_inner, kept dims[k], kept strides[k], reduced dims[r],
    reduced strides[r]. One thread per output; no barriers."""
    k, r = spec.kept, spec.reduced
    params = [memory_type(spec.out_dtype).as_pointer(), memory_type(spec.in_dtype).as_pointer(), I64, I64]
    fn = target.kernel(module, name, params + [I64] * (2 * k + 2 * r))
    _mark_pointers(fn)
    out, src, n_out, n_inner = fn.args[:4]
    rest = list(fn.args[4:])
    kept_dims, kept_strides = rest[:k], rest[k : 2 * k]
    red_dims, red_strides = rest[2 * k : 2 * k + r], rest[2 * k + r :]
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    arith = Arithmetic(spec, ScalarEmitter(b, target.math(module)))
    with grid_stride_loop(target, b, n_out, "output") as o:
        base = _offset_of(b, o, kept_dims, kept_strides)
        acc_slot, index_slot = _variables(b, arith.identity())
        flat_slot = _entry_alloca(b, I64)
        b.store(I64(0), flat_slot)

        def visit(axis: int, offset: ll.Value) -> None:
            if axis == r:
                value = arith.element(load_element(b, spec.in_dtype, b.gep(src, [offset])))
                flat = b.load(flat_slot)
                acc, index = arith.combine(b.load(acc_slot), b.load(index_slot), value, flat)
                b.store(acc, acc_slot)
                b.store(index, index_slot)
                b.store(b.add(flat, I64(1)), flat_slot)
                return
            with counted_loop(b, red_dims[axis], f"reduce{axis}") as i:
                visit(axis + 1, b.add(offset, b.mul(i, red_strides[axis])))

        visit(0, base)
        result = arith.finish(b.load(acc_slot), b.load(index_slot), n_inner)
        store_element(b, spec.out_dtype, result, b.gep(out, [o]))
    b.ret_void()


def emit_block_kernel(
    target: KernelTarget,
    module: ll.Module,
    name: str,
    spec: Spec,
    from_partials: bool,
    to_partials: bool,
) -> None:
    """One block per (output, chunk). Params: out, out_indices, src, src_indices, n_out,
    n_inner, splits, chunk, count, kept dims[k], kept strides[k], reduced dims[r],
    reduced strides[r]. Virtual block v (grid-stride over n_out * splits) reduces elements
    [part * chunk, min(n_inner, (part + 1) * chunk)) of output v / splits (part = v % splits).
    `from_partials`: the source is a (n_out, splits) array of accumulators and their indices
    (k = r = 1), else the op's source elements. `to_partials`: the block writes its
    accumulator (and index) to out[v] (and out_indices[v]), else the finished result to
    out[v] (splits must be 1; a mean divides by `count`). Launch with BLOCK threads."""
    assert target.on_device
    k, r = (1, 1) if from_partials else (spec.kept, spec.reduced)
    acc_memory = memory_type(spec.acc_dtype)
    out_type = acc_memory if to_partials else memory_type(spec.out_dtype)
    src_type = acc_memory if from_partials else memory_type(spec.in_dtype)
    params = [out_type.as_pointer(), I64.as_pointer(), src_type.as_pointer(), I64.as_pointer()]
    params += [I64] * (5 + 2 * k + 2 * r)
    fn = target.kernel(module, name, params)
    _mark_pointers(fn)
    out, out_indices, src, src_indices, n_out, n_inner, splits, chunk, count = fn.args[:9]
    rest = list(fn.args[9:])
    kept_dims, kept_strides = rest[:k], rest[k : 2 * k]
    red_dims, red_strides = rest[2 * k : 2 * k + r], rest[2 * k + r :]
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    arith = Arithmetic(spec, ScalarEmitter(b, target.math(module)))
    shared_values = _shared_array(module, f"{name}_shared_values", acc_memory)
    shared_indices = _shared_array(module, f"{name}_shared_indices", I64) if spec.arg else None

    thread = target.thread(b)
    lane = b.and_(thread, I32(WARP - 1))
    warp = b.lshr(thread, I32(5))
    warps = b.lshr(b.add(target.block_size(b), I32(WARP - 1)), I32(5))
    thread64 = b.zext(thread, I64)
    block_size64 = b.zext(target.block_size(b), I64)
    single = b.icmp_unsigned("==", red_dims[-1], n_inner) if red_dims else None
    acc_slot, index_slot = _variables(b, arith.identity())

    def warp_reduce() -> None:
        for mask in (16, 8, 4, 2, 1):
            acc, index = b.load(acc_slot), b.load(index_slot)
            other = _shuffle_xor(b, acc, mask)
            other_index = _shuffle_xor(b, index, mask) if spec.arg else index
            acc, index = arith.combine(acc, index, other, other_index)
            b.store(acc, acc_slot)
            b.store(index, index_slot)

    def shared_slot(glob: ll.GlobalVariable, at: ll.Value) -> ll.Value:
        return b.gep(glob, [I32(0), at])

    # The virtual blocks of this block: v = blockIdx.x, blockIdx.x + gridDim.x, ... (uniform).
    first = b.zext(target.block(b), I64)
    step = b.zext(target.grid_size(b), I64)
    total = b.mul(n_out, splits)
    before = b.block
    header = b.append_basic_block("virtual.header")
    body = b.append_basic_block("virtual.body")
    done = b.append_basic_block("virtual.done")
    b.branch(header)
    b.position_at_end(header)
    v = b.phi(I64, name="v")
    v.add_incoming(first, before)
    b.cbranch(b.icmp_unsigned("<", v, total), body, done)
    b.position_at_end(body)

    o = b.udiv(v, splits)
    part = b.urem(v, splits)
    base = _offset_of(b, o, kept_dims, kept_strides)
    start = b.mul(part, chunk)
    end = b.add(start, chunk)
    stop = b.select(b.icmp_unsigned("<", end, n_inner), end, n_inner)
    identity = arith.identity()
    b.store(identity[0], acc_slot)
    b.store(identity[1], index_slot)
    # This thread's elements: start + thread, + blockDim, ...
    first_j = b.add(start, thread64)
    loop_before = b.block
    loop_header = b.append_basic_block("inner.header")
    loop_body = b.append_basic_block("inner.body")
    loop_done = b.append_basic_block("inner.done.all")
    b.branch(loop_header)
    b.position_at_end(loop_header)
    j = b.phi(I64, name="j")
    j.add_incoming(first_j, loop_before)
    b.cbranch(b.icmp_unsigned("<", j, stop), loop_body, loop_done)
    b.position_at_end(loop_body)
    offset = b.add(base, _inner_offset(b, single, j, red_dims, red_strides) if red_dims else I64(0))
    if from_partials:
        value = load_element(b, spec.acc_dtype, b.gep(src, [offset]))
        at = b.load(b.gep(src_indices, [offset])) if spec.arg else j
    else:
        value = arith.element(load_element(b, spec.in_dtype, b.gep(src, [offset])))
        at = j
    acc, index = arith.combine(b.load(acc_slot), b.load(index_slot), value, at)
    b.store(acc, acc_slot)
    b.store(index, index_slot)
    j.add_incoming(b.add(j, block_size64), b.block)
    b.branch(loop_header)
    b.position_at_end(loop_done)

    # The block's combine: each warp's lanes, then warp 0 over the warps' totals.
    warp_reduce()
    with _when(b, b.icmp_unsigned("==", lane, I32(0))):
        _store_shared(b, spec.acc_dtype, b.load(acc_slot), shared_slot(shared_values, warp))
        if shared_indices is not None:
            b.store(b.load(index_slot), shared_slot(shared_indices, warp))
    _barrier(b)
    with _when(b, b.icmp_unsigned("==", warp, I32(0))):
        b.store(identity[0], acc_slot)
        b.store(identity[1], index_slot)
        with _when(b, b.icmp_unsigned("<", lane, warps)):
            b.store(_load_shared(b, spec.acc_dtype, shared_slot(shared_values, lane)), acc_slot)
            if shared_indices is not None:
                b.store(b.load(shared_slot(shared_indices, lane)), index_slot)
        warp_reduce()
        with _when(b, b.icmp_unsigned("==", lane, I32(0))):
            acc, index = b.load(acc_slot), b.load(index_slot)
            if to_partials:
                store_element(b, spec.acc_dtype, acc, b.gep(out, [v]))
                if spec.arg:
                    b.store(index, b.gep(out_indices, [v]))
            else:
                store_element(b, spec.out_dtype, arith.finish(acc, index, count), b.gep(out, [v]))
    _barrier(b)  # the shared slots are read before the next virtual block writes them
    v.add_incoming(b.add(v, step), b.block)
    b.branch(header)
    b.position_at_end(done)
    b.ret_void()


# ---------------------------------------------------------------------------- the step


@dataclass(frozen=True)
class ReduceKernels:
    thread: str
    block: str | None  # None where the target cannot run barriers (the emulator)
    split: str | None
    combine: str | None


@device_step(Reduce)
def _reduce_step(builder: ProgramBuilder, op: Reduce) -> Step:  # type: ignore[override]
    spec = spec_of(op)
    target, module = builder.target, builder.module
    base = f"reduce_{spec.kind}"
    kernels = ReduceKernels(builder.kernel_name(f"{base}_thread"), None, None, None)
    emit_thread_kernel(target, module, kernels.thread, spec)
    if target.on_device:
        kernels = ReduceKernels(
            kernels.thread,
            builder.kernel_name(f"{base}_block"),
            builder.kernel_name(f"{base}_split"),
            builder.kernel_name(f"{base}_combine"),
        )
        emit_block_kernel(target, module, kernels.block, spec, from_partials=False, to_partials=False)
        emit_block_kernel(target, module, kernels.split, spec, from_partials=False, to_partials=True)
        emit_block_kernel(target, module, kernels.combine, spec, from_partials=True, to_partials=False)
    axes = sorted(op.axes)
    keepdims = bool(op.attributes["keepdims"])
    location = op.location

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        source = as_device(device, operands[0])
        shape, strides = tuple(source.shape), tuple(source.strides)
        if spec.kind in NEEDS_ELEMENTS:
            for axis in axes:
                if shape[axis] == 0:
                    raise TcValueError(
                        f"tx.reduce {spec.kind} at {location}: the reduced axis {axis} of a source of "
                        f"shape {shape} is empty; {spec.kind} needs at least one element"
                    )
        kept_axes = [a for a in range(len(shape)) if a not in axes]
        if keepdims:
            out_shape = tuple(1 if a in axes else d for a, d in enumerate(shape))
        else:
            out_shape = tuple(shape[a] for a in kept_axes)
        out = device.empty(out_shape, spec.out_dtype)
        n_out = math.prod(shape[a] for a in kept_axes)
        if n_out == 0:
            return [out]
        kept_dims = [shape[a] for a in kept_axes]
        kept_strides = [strides[a] for a in kept_axes]
        reduced = collapse([(shape[a], strides[a]) for a in axes], spec.reduced)
        red_dims = [d for d, _ in reduced]
        red_strides = [s for _, s in reduced]
        n_inner = math.prod(red_dims)
        contiguous = not reduced or reduced[-1][1] == 1 or n_inner <= 1
        chosen = plan(n_out, n_inner, contiguous, device.multiprocessors, device.block_reductions)
        if chosen.strategy == "thread" or kernels.block is None:
            args = [out.pointer, source.pointer, n_out, n_inner, *kept_dims, *kept_strides]
            device.launch(kernels.thread, _blocks(n_out, device), BLOCK, [*args, *red_dims, *red_strides])
            return [out]
        geometry = [*kept_dims, *kept_strides, *red_dims, *red_strides]
        if chosen.strategy == "block":
            args = [out.pointer, 0, source.pointer, 0, n_out, n_inner, 1, n_inner, n_inner, *geometry]
            device.launch(kernels.block, _block_grid(n_out, device), BLOCK, args)
            return [out]
        assert kernels.split is not None and kernels.combine is not None
        splits = chosen.splits
        chunk = -(-n_inner // splits)
        partials = device.empty((n_out * splits,), spec.acc_dtype)
        indices: DeviceArray | None = device.empty((n_out * splits,), DType.I64) if spec.arg else None
        index_pointer = indices.pointer if indices is not None else 0
        args = [partials.pointer, index_pointer, source.pointer, 0, n_out, n_inner, splits, chunk, 0]
        device.launch(kernels.split, _block_grid(n_out * splits, device), BLOCK, [*args, *geometry])
        args = [out.pointer, 0, partials.pointer, index_pointer, n_out, splits, 1, splits, n_inner]
        device.launch(kernels.combine, _block_grid(n_out, device), BLOCK, [*args, n_out, splits, splits, 1])
        return [out]

    return run


def _blocks(work: int, device: Device) -> int:
    return max(1, min(math.ceil(work / BLOCK), device.multiprocessors * BLOCKS_PER_SM))


def _block_grid(blocks: int, device: Device) -> int:
    return max(1, min(blocks, device.multiprocessors * BLOCKS_PER_SM))
