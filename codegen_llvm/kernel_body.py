"""The scalar body of a fused elementwise kernel, for any target.

`kernel_body(op, math)` turns a `kernel.elementwise` (or `kernel.reduce`) region into a
`KernelBody`: functions that, given one element of each operand, emit the
instructions for one element of each result. The CPU's loops call it with the
host's math library; the GPU's kernels (codegen_ptx) with libdevice.
"""

from __future__ import annotations

from ..ir import Operation, TcCompilationError, Value
from ..ir.ops.builtin import Constant
from ..ir.ops.kernel import KernelElementwise, KernelReduce, Yield
from . import llvm_ir as ll
from .jobs import KernelBody
from .parallel import GRAIN, MIN_GRAIN
from .scalar import MathLibrary, ScalarEmitter, needs_fallback
from .types import register_type

# Kernel bodies longer than this call their vectorisable math instead of inlining it.
OUTLINE_MATH_ABOVE_OPS = 32
# The region's ops that are not scalar math, by class: the terminator and constants.
_REGION_OPS: dict[type[Operation], str] = {Yield: "yield", Constant: "constant"}


def kernel_body(op: KernelElementwise | KernelReduce, math: MathLibrary) -> KernelBody:
    block = op.body.block
    # Small kernels inline their math (the fastest loops); long ones call it, so LLVM's
    # time stays proportional to the number of ops (see ScalarEmitter).
    outline = len(block.ops) > OUTLINE_MATH_ABOVE_OPS

    def emit(builder: ll.IRBuilder, values: list[ll.Value], fast: bool):  # type: ignore[no-untyped-def]
        emitter = ScalarEmitter(builder, math, vector_math=fast, outline_math=outline)
        env: dict[Value, ll.Value] = dict(zip(block.args, values, strict=True))
        for inner in block.ops:
            role = _REGION_OPS.get(type(inner))
            if role == "yield":
                return [env[v] for v in inner.operands], emitter.inexact
            if role == "constant":
                dtype = inner.result.type.dtype
                env[inner.result] = ll.Constant(register_type(dtype), inner.value.item())
                continue
            env[inner.result] = emitter.emit(inner, [env[v] for v in inner.operands])
        raise TcCompilationError("kernel body without kernel.yield")

    return KernelBody(
        fast=lambda builder, values: emit(builder, values, True),
        exact=lambda builder, values: emit(builder, values, False)[0],
        has_fallback=any(needs_fallback(inner) for inner in block.ops),
        grain=thread_grain(block.ops),
    )


def thread_grain(ops: list[Operation]) -> int:
    """Elements a thread must have before a second one pays: GRAIN for arithmetic, a ninth of
    it for each costly op (a math function), at least MIN_GRAIN. The MLP's hidden layer,
    tanh(x + b) and 1 - tanh^2 over 20 x 500, went 40.0 -> 25.9 us a call in float64 and
    19.1 -> 15.4 in float32 (best of 7) on two threads."""
    calls = sum(1 for inner in ops if getattr(inner, "costly", False))
    return max(MIN_GRAIN, GRAIN // (1 + 8 * calls))
