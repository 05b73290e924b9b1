"""Where a kernel runs: the GPU, or the host's grid emulator.

A `KernelTarget` supplies what differs between the two: the module's triple,
how a thread reads its position in the grid, and where math functions come
from. Every kernel emitter in codegen_ptx takes one, so the same kernel IR
runs on the GPU (`NVPTX`: thread indices from the `llvm.nvvm.read.ptx.sreg.*`
intrinsics, math from libdevice) and on the host (`EMULATED`: the position is
read from four globals that the emulator sets before calling the kernel once
per thread, math from libm), which is how CI checks the indexing and the
numbers of barrier-free kernels without a GPU (tests/codegen_ptx/emulator.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..codegen_llvm import llvm_ir as ll
from ..codegen_llvm.scalar import MathLibrary
from ..codegen_llvm.target import TargetModule, host_target
from ..codegen_llvm.types import I32, I64
from ..ir import DType
from . import target as nvptx

# The emulator's grid position: thread, block size, block, grid size (x only).
GRID_GLOBALS = ("tc.grid.tid", "tc.grid.ntid", "tc.grid.ctaid", "tc.grid.nctaid")
_SREG = ("tid.x", "ntid.x", "ctaid.x", "nctaid.x")
# libm names whose libdevice function is spelled differently.
_LIBDEVICE_NAMES = {"roundeven": "rint"}


class DeviceMath(MathLibrary):
    """Math functions from libdevice: `__nv_sinf`, `__nv_sin`, ..."""

    def call(self, builder: ll.IRBuilder, name: str, dtype: DType, args: list[ll.Value]) -> ll.Value:
        base = _LIBDEVICE_NAMES.get(name, name)
        symbol = f"__nv_{base}{'f' if dtype is DType.F32 else ''}"
        fn = self.module.globals.get(symbol)
        if fn is None:
            ty = args[0].type
            fn = ll.Function(self.module, ll.FunctionType(ty, [a.type for a in args]), symbol)
        return builder.call(fn, args)


@dataclass(frozen=True)
class KernelTarget:
    """A `codegen_llvm.target.Target` whose parallel loop is the grid: kernels read their
    thread's position (below) instead of calling a parallel-for, and never allocate."""

    name: str
    on_device: bool

    @property
    def triple(self) -> str:
        return nvptx.TRIPLE if self.on_device else host_target().triple

    @property
    def data_layout(self) -> str:
        return nvptx.DATA_LAYOUT if self.on_device else host_target().data_layout

    def new_module(self, name: str = "tc_kernels") -> ll.Module:
        return TargetModule(name, self)

    def math(self, module: ll.Module) -> MathLibrary:
        return DeviceMath(module) if self.on_device else MathLibrary(module)

    def kernel(self, module: ll.Module, name: str, params: list[ll.Type]) -> ll.Function:
        fn = ll.Function(module, ll.FunctionType(ll.VoidType(), params), name)
        if self.on_device:
            nvptx.mark_kernel(module, fn)
        return fn

    def _read(self, builder: ll.IRBuilder, which: int) -> ll.Value:
        module = builder.module
        if self.on_device:
            symbol = f"llvm.nvvm.read.ptx.sreg.{_SREG[which]}"
            fn = module.globals.get(symbol) or ll.Function(module, ll.FunctionType(I32, []), symbol)
            return builder.call(fn, [])
        glob = module.globals.get(GRID_GLOBALS[which])
        if glob is None:
            glob = ll.GlobalVariable(module, I32, GRID_GLOBALS[which])
            glob.initializer = I32(0)
        return builder.load(glob)

    def thread(self, builder: ll.IRBuilder) -> ll.Value:
        """threadIdx.x (i32)."""
        return self._read(builder, 0)

    def block_size(self, builder: ll.IRBuilder) -> ll.Value:
        """blockDim.x (i32)."""
        return self._read(builder, 1)

    def block(self, builder: ll.IRBuilder) -> ll.Value:
        """blockIdx.x (i32)."""
        return self._read(builder, 2)

    def grid_size(self, builder: ll.IRBuilder) -> ll.Value:
        """gridDim.x (i32)."""
        return self._read(builder, 3)

    def global_thread(self, builder: ll.IRBuilder) -> ll.Value:
        """blockIdx.x * blockDim.x + threadIdx.x, as i64."""
        block = builder.zext(self.block(builder), I64)
        size = builder.zext(self.block_size(builder), I64)
        return builder.add(builder.mul(block, size), builder.zext(self.thread(builder), I64))

    def thread_count(self, builder: ll.IRBuilder) -> ll.Value:
        """blockDim.x * gridDim.x, as i64: the step of a grid-stride loop."""
        size = builder.zext(self.block_size(builder), I64)
        return builder.mul(size, builder.zext(self.grid_size(builder), I64))


NVPTX = KernelTarget("nvptx", on_device=True)
EMULATED = KernelTarget("emulated", on_device=False)
