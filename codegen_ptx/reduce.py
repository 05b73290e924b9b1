"""Reductions on the GPU: `tx.reduce` (sum, prod, mean, max, min, argmax, argmin).

At run time the source is any strided device array. Its axes are split into
the kept ones (the outputs, `n_out` of them, in the result's C order) and the
reduced ones (`n_inner` elements per output, in C order over the reduced axes:
argmax/argmin's index). The reduced axes are collapsed first (axes of length 1
dropped, neighbours that are contiguous with each other merged, then padded
back to the op's static count with (1, 0)), so a row-major row is one axis.

Three kernels per op (emitted by reduce_kernels.py; the strategy is chosen per
call, see `plan`):

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
from collections.abc import Sequence
from dataclasses import dataclass

from ..ir import DType, TcValueError
from ..ir.ops.reduce import NEEDS_ELEMENTS, Reduce
from .launch import BLOCK, Device, DeviceArray
from .program import ProgramBuilder, Runtime, Step, as_device, device_step
from .reduce_kernels import Spec, emit_block_kernel, emit_thread_kernel, spec_of

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


# ---------------------------------------------------------------------------- the step


@dataclass(frozen=True)
class ReduceKernels:
    thread: str
    block: str | None  # None where the target cannot run barriers (the emulator)
    split: str | None
    combine: str | None


@device_step(Reduce)
def _reduce_step(builder: ProgramBuilder, op: Reduce) -> Step:  # type: ignore[override]
    return reduction_step(builder, spec_of(op), op.axes, op.keepdims, f"{op.name} {op.kind} at {op.location}")


def reduction_step(
    builder: ProgramBuilder, spec: Spec, axes: Sequence[int], keepdims: bool, where: str
) -> Step:
    """Emit one reduction's kernels (`spec`, over `axes` of its source); the step that
    reduces its one operand, any strided device array. `where` names the op in errors."""
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
    axes = sorted(axes)

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        source = as_device(device, operands[0])
        shape, strides = tuple(source.shape), tuple(source.strides)
        if spec.kind in NEEDS_ELEMENTS:
            for axis in axes:
                if shape[axis] == 0:
                    raise TcValueError(
                        f"{where}: the reduced axis {axis} of a source of "
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
