"""The kernels of GPU reductions (`tx.reduce`); reduce.py chooses among them per call and launches them.

`emit_thread_kernel`: one thread per output, no barriers. `emit_block_kernel`:
one block per output or per chunk of one (a warp-shuffle and shared-memory
tree), which also serves `split`'s partials and their `combine`. `Arithmetic`
is one op's identity, combine and finish (see reduce.py for the accumulators).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..codegen_llvm import llvm_ir as ll
from ..codegen_llvm.control import counted_loop
from ..codegen_llvm.scalar import ScalarEmitter, emit_cast
from ..codegen_llvm.types import I32, I64, load_element, memory_type, register_type, store_element
from ..ir import DType, TensorType
from ..ir.ops.reduce import Reduce
from .grid import KernelTarget
from .loops import grid_stride_loop, mark_noalias
from .warp import WARP, barrier, load_shared, shared_array, shuffle_xor, store_shared

NO_INDEX = (1 << 63) - 1  # the identity's index: loses every tie


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
    reduced = len(op.axes)
    return make_spec(op.kind, op.operands[0].type, op.results[0].type.dtype, reduced)


def make_spec(kind: str, source: TensorType, out_dtype: DType, reduced: int) -> Spec:
    """The spec of a `kind` reduction of `source` over `reduced` of its axes into `out_dtype`."""
    if kind in ("max", "min", "argmax", "argmin"):
        acc = source.dtype
    elif kind == "mean" or (kind == "sum" and out_dtype is DType.F32):
        acc = DType.F64
    else:
        acc = out_dtype
    return Spec(kind, source.dtype, out_dtype, acc, source.rank - reduced, reduced)


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


def _when(b: ll.IRBuilder, condition: ll.Value) -> ll.IRBuilder:
    return b.if_then(condition)


# ---------------------------------------------------------------------------- kernels


def emit_thread_kernel(target: KernelTarget, module: ll.Module, name: str, spec: Spec) -> None:
    """Params: out, src, n_out, n_inner, kept dims[k], kept strides[k], reduced dims[r],
    reduced strides[r]. One thread per output; no barriers."""
    k, r = spec.kept, spec.reduced
    params = [memory_type(spec.out_dtype).as_pointer(), memory_type(spec.in_dtype).as_pointer(), I64, I64]
    fn = target.kernel(module, name, params + [I64] * (2 * k + 2 * r))
    mark_noalias(fn)
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
    kernel = _BlockKernel(target, module, name, spec, from_partials, to_partials)
    b = kernel.b
    # The virtual blocks of this block: v = blockIdx.x, blockIdx.x + gridDim.x, ... (uniform).
    first = b.zext(target.block(b), I64)
    step = b.zext(target.grid_size(b), I64)
    total = b.mul(kernel.n_out, kernel.splits)
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
    identity = kernel.accumulate(v)
    kernel.combine(v, identity)
    barrier(b)  # the shared slots are read before the next virtual block writes them
    v.add_incoming(b.add(v, step), b.block)
    b.branch(header)
    b.position_at_end(done)
    b.ret_void()


class _BlockKernel:
    """One `emit_block_kernel` kernel being emitted: its arguments, its per-thread registers
    and accumulator slots, and its two phases (each thread's elements, then the block's combine)."""

    def __init__(
        self,
        target: KernelTarget,
        module: ll.Module,
        name: str,
        spec: Spec,
        from_partials: bool,
        to_partials: bool,
    ) -> None:
        assert target.on_device
        self.spec, self.from_partials, self.to_partials = spec, from_partials, to_partials
        k, r = (1, 1) if from_partials else (spec.kept, spec.reduced)
        acc_memory = memory_type(spec.acc_dtype)
        out_type = acc_memory if to_partials else memory_type(spec.out_dtype)
        src_type = acc_memory if from_partials else memory_type(spec.in_dtype)
        params = [out_type.as_pointer(), I64.as_pointer(), src_type.as_pointer(), I64.as_pointer()]
        params += [I64] * (5 + 2 * k + 2 * r)
        fn = target.kernel(module, name, params)
        mark_noalias(fn)
        self.out, self.out_indices, self.src, self.src_indices = fn.args[:4]
        self.n_out, self.n_inner, self.splits, self.chunk, self.count = fn.args[4:9]
        rest = list(fn.args[9:])
        self.kept_dims, self.kept_strides = rest[:k], rest[k : 2 * k]
        self.red_dims, self.red_strides = rest[2 * k : 2 * k + r], rest[2 * k + r :]
        b = self.b = ll.IRBuilder(fn.append_basic_block("entry"))
        self.arith = Arithmetic(spec, ScalarEmitter(b, target.math(module)))
        self.shared_values = shared_array(module, f"{name}_shared_values", acc_memory)
        self.shared_indices = shared_array(module, f"{name}_shared_indices", I64) if spec.arg else None

        thread = target.thread(b)
        self.lane = b.and_(thread, I32(WARP - 1))
        self.warp = b.lshr(thread, I32(5))
        self.warps = b.lshr(b.add(target.block_size(b), I32(WARP - 1)), I32(5))
        self.thread64 = b.zext(thread, I64)
        self.block_size64 = b.zext(target.block_size(b), I64)
        self.single = b.icmp_unsigned("==", self.red_dims[-1], self.n_inner) if self.red_dims else None
        self.acc_slot, self.index_slot = _variables(b, self.arith.identity())

    def accumulate(self, v: ll.Value) -> tuple[ll.Value, ll.Value]:
        """This thread's elements of virtual block `v` into the accumulator slots; the identity."""
        b, spec, arith = self.b, self.spec, self.arith
        acc_slot, index_slot = self.acc_slot, self.index_slot
        o = b.udiv(v, self.splits)
        part = b.urem(v, self.splits)
        base = _offset_of(b, o, self.kept_dims, self.kept_strides)
        start = b.mul(part, self.chunk)
        end = b.add(start, self.chunk)
        stop = b.select(b.icmp_unsigned("<", end, self.n_inner), end, self.n_inner)
        identity = arith.identity()
        b.store(identity[0], acc_slot)
        b.store(identity[1], index_slot)
        # This thread's elements: start + thread, + blockDim, ...
        first_j = b.add(start, self.thread64)
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
        red_dims, red_strides = self.red_dims, self.red_strides
        offset = b.add(base, _inner_offset(b, self.single, j, red_dims, red_strides) if red_dims else I64(0))
        if self.from_partials:
            value = load_element(b, spec.acc_dtype, b.gep(self.src, [offset]))
            at = b.load(b.gep(self.src_indices, [offset])) if spec.arg else j
        else:
            value = arith.element(load_element(b, spec.in_dtype, b.gep(self.src, [offset])))
            at = j
        acc, index = arith.combine(b.load(acc_slot), b.load(index_slot), value, at)
        b.store(acc, acc_slot)
        b.store(index, index_slot)
        j.add_incoming(b.add(j, self.block_size64), b.block)
        b.branch(loop_header)
        b.position_at_end(loop_done)
        return identity

    def combine(self, v: ll.Value, identity: tuple[ll.Value, ll.Value]) -> None:
        """The block's combine: each warp's lanes, then warp 0 over the warps' totals; lane 0
        of warp 0 writes virtual block `v`'s result (or partial)."""
        b, spec, lane = self.b, self.spec, self.lane
        acc_slot, index_slot = self.acc_slot, self.index_slot
        self.warp_reduce()
        with _when(b, b.icmp_unsigned("==", lane, I32(0))):
            store_shared(b, spec.acc_dtype, b.load(acc_slot), self.shared_slot(self.shared_values, self.warp))
            if self.shared_indices is not None:
                b.store(b.load(index_slot), self.shared_slot(self.shared_indices, self.warp))
        barrier(b)
        with _when(b, b.icmp_unsigned("==", self.warp, I32(0))):
            b.store(identity[0], acc_slot)
            b.store(identity[1], index_slot)
            with _when(b, b.icmp_unsigned("<", lane, self.warps)):
                b.store(load_shared(b, spec.acc_dtype, self.shared_slot(self.shared_values, lane)), acc_slot)
                if self.shared_indices is not None:
                    b.store(b.load(self.shared_slot(self.shared_indices, lane)), index_slot)
            self.warp_reduce()
            with _when(b, b.icmp_unsigned("==", lane, I32(0))):
                acc, index = b.load(acc_slot), b.load(index_slot)
                if self.to_partials:
                    store_element(b, spec.acc_dtype, acc, b.gep(self.out, [v]))
                    if spec.arg:
                        b.store(index, b.gep(self.out_indices, [v]))
                else:
                    result = self.arith.finish(acc, index, self.count)
                    store_element(b, spec.out_dtype, result, b.gep(self.out, [v]))

    def warp_reduce(self) -> None:
        """The accumulator slots combined across the 32 lanes of each warp."""
        b, arith = self.b, self.arith
        for mask in (16, 8, 4, 2, 1):
            acc, index = b.load(self.acc_slot), b.load(self.index_slot)
            other = shuffle_xor(b, acc, mask)
            other_index = shuffle_xor(b, index, mask) if self.spec.arg else index
            acc, index = arith.combine(acc, index, other, other_index)
            b.store(acc, self.acc_slot)
            b.store(index, self.index_slot)

    def shared_slot(self, glob: ll.GlobalVariable, at: ll.Value) -> ll.Value:
        return self.b.gep(glob, [I32(0), at])
