"""`kernel.reduce` on the GPU, mechanically: the body as an elementwise kernel, then reductions.

The body runs as a fused elementwise kernel (elementwise.py) over the broadcast
of the operands, storing each yielded value into a temporary of that shape;
each temporary is then reduced by the reduction step of its kind (reduce.py)
and given back to the memory pool. (The CPU computes the yielded values inside
the reduction's loop instead; one GPU kernel doing both is for later.)
"""

from __future__ import annotations

from ..ir import TensorType
from ..ir.ops.kernel import KernelReduce
from .elementwise import elementwise_launcher, emit_elementwise
from .launch import Device
from .program import ProgramBuilder, Runtime, Step, device_step
from .reduce import reduction_step
from .reduce_kernels import make_spec


@device_step(KernelReduce)
def _kernel_reduce_step(builder: ProgramBuilder, op: KernelReduce) -> Step:  # type: ignore[override]
    space = op.source_type.shape
    yielded = [TensorType(t.dtype, space) for t in op.yield_types]
    name = builder.kernel_name("reduce_body")
    kernels = emit_elementwise(builder.target, builder.module, name, op, builder.by_value(op), yielded)
    builder.add_kernels(kernels.vec, kernels.strided)
    body = elementwise_launcher(kernels)
    reductions = [
        reduction_step(
            builder,
            make_spec(kind, source, result.type.dtype, len(op.axes)),
            op.axes,
            op.keepdims,
            f"{op.name} {kind} at {op.location}",
        )
        for kind, source, result in zip(op.kinds, yielded, op.results, strict=True)
    ]

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        temporaries = body(device, operands)
        results: list[Runtime] = []
        for reduce, temporary in zip(reductions, temporaries, strict=True):
            results += reduce(device, [temporary])
        return results

    return run
