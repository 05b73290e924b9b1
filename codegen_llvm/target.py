"""The target code is generated for, and what the code generators ask of it.

As in MLIR, where a module carries its target triple and data layout, a module made by a
target remembers it (`Target.new_module`, `target_of`): an emitter that holds only a builder
asks `target_of(builder.module)` for what differs between machines instead of wiring in the
host's. Every target supplies

- `name`, `triple` and `data_layout`, set on the modules it makes;
- `math(module)`: where scalar math comes from (the vectorised routines and libm on the
  host; libdevice on a GPU, codegen_ptx/grid.py's `KernelTarget`).

The host (`HostTarget`) also runs loops over its cores (`parallel_for`: the support library's
thread pool, through `tc_parallel_for`) and allocates temporaries inside generated code
(`allocate` and `release`: malloc and free). A GPU kernel does neither: its parallel loop is
the grid (KernelTarget's thread and block indices), and the runtime allocates device memory.
The kernel-body emitter (kernel_body.py) is a free function every target calls with its math.
"""

from __future__ import annotations

import functools
from typing import Protocol

from ..ir import TcCompilationError
from . import llvm_ir as ll
from .parallel import GRAIN, parallel_for
from .scalar import MathLibrary
from .types import I8_PTR, I64


class Target(Protocol):
    """What every target supplies (see the module's docstring)."""

    @property
    def name(self) -> str: ...

    @property
    def triple(self) -> str: ...

    @property
    def data_layout(self) -> str: ...

    def new_module(self, name: str) -> ll.Module: ...

    def math(self, module: ll.Module) -> MathLibrary: ...


class TargetModule(ll.Module):
    """An LLVM module that knows the target it is generated for."""

    def __init__(self, name: str, target: Target) -> None:
        super().__init__(name=name)
        self.target = target
        self.triple = target.triple
        self.data_layout = target.data_layout


def target_of(module: ll.Module) -> Target:
    """The target `module` was made for (by `Target.new_module`)."""
    target = getattr(module, "target", None)
    if target is None:
        raise TcCompilationError(f"module '{module.name}' was not made by a target (Target.new_module)")
    return target  # type: ignore[no-any-return]


def host_of(module: ll.Module) -> HostTarget:
    """The host target `module` was made for: the code asking runs loops on the cores or
    allocates, which only the host does."""
    target = target_of(module)
    if not isinstance(target, HostTarget):
        raise TcCompilationError(f"module '{module.name}' is for {target.name}, not the host CPU")
    return target


class HostTarget:
    """The CPU tc runs on: what its native code is specific to (the triple, the CPU's name and
    features, also the compile cache's key), and how its code runs loops and allocates.
    (A plain class: defining a dataclass cost the first compile 0.5 ms.)"""

    __slots__ = ("triple", "cpu", "features")
    name = "the host CPU"

    def __init__(self, triple: str, cpu: str, features: str) -> None:
        self.triple, self.cpu = triple, cpu
        self.features = features  # LLVM's "+avx2,-avx512f,..." form

    def _key(self) -> tuple[str, str, str]:
        return (self.triple, self.cpu, self.features)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HostTarget) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"HostTarget(triple={self.triple!r}, cpu={self.cpu!r}, features={self.features!r})"

    def enabled_features(self) -> set[str]:
        return {f[1:] for f in self.features.split(",") if f.startswith("+")}

    @property
    def data_layout(self) -> str:
        return _host_data_layout()

    def new_module(self, name: str) -> ll.Module:
        return TargetModule(name, self)

    def math(self, module: ll.Module) -> MathLibrary:
        return MathLibrary(module)

    def parallel_for(
        self,
        builder: ll.IRBuilder,
        job: ll.Value,
        args: ll.Value,
        count: ll.Value,
        threads: ll.Value | None = None,
        grain: int = GRAIN,
    ) -> ll.Value:
        """Run `job(args, begin, end)` over chunks of [0, count) on the cores (at least `grain`
        elements a thread; with `threads`, over work items the caller sized, on at most that
        many threads: parallel.py); the i1 OR of the chunks' results (an element asked for
        exact math)."""
        units = threads is not None
        fn = parallel_for(builder.module, units=units)
        return builder.call(fn, [job, args, count, threads if units else I64(grain)])

    def allocate(self, builder: ll.IRBuilder, size: ll.Value) -> ll.Value:
        """`size` bytes (i64, at least one allocated), or a null pointer."""
        module = builder.module
        malloc = module.globals.get("malloc") or ll.Function(module, ll.FunctionType(I8_PTR, [I64]), "malloc")
        # malloc(0) may return NULL legitimately; ask for at least one byte.
        return builder.call(malloc, [builder.select(builder.icmp_signed("==", size, I64(0)), I64(1), size)])

    def release(self, builder: ll.IRBuilder, pointer: ll.Value) -> None:
        module = builder.module
        free = module.globals.get("free") or ll.Function(
            module, ll.FunctionType(ll.VoidType(), [I8_PTR]), "free"
        )
        builder.call(free, [pointer])


@functools.cache
def _host_data_layout() -> str:
    """Asked once: each call into LLVM gives the GIL up and waits to take it back, and lowering,
    which reads it, runs while the support library may compile on another thread. Asked of
    the quick code's target machine (the layout is every level's), which a first compile
    makes anyway: the optimised code's is made later, on a background thread."""
    from .jit import host_target_machine

    return host_target_machine(opt=0).data_layout


@functools.cache
def host_target() -> HostTarget:
    """The host as LLVM describes it (loads LLVM)."""
    from .jit import host_cpu, host_triple

    return HostTarget(host_triple(), *host_cpu())
