"""A fused IR function as a device program: GPU kernels, and the host steps that launch them.

`build_program` walks the optimised function once at compile time. Each op
is placed on the host or the device (`placement`):

- on the host: integer scalars and shapes (`tx.shape`, `tx.size`, arithmetic
  on scalar arguments, constants), evaluated with the ops' numpy reference
  semantics, so sizes and slice bounds never wait for the GPU;
- on the device: everything else, through a step registered for its op class
  (`device_step`): a closure built at compile time, which emits the op's
  kernels into the module then, and at run time computes the result's shape,
  allocates it and launches the kernels.

A rank-0 host value that a kernel reads is passed to it by value; a larger one
is uploaded. `DeviceProgram.run` runs the steps in order on any `Device`
(launch.py): the GPU, or the host's grid emulator in CI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..codegen_llvm import llvm_ir as ll
from ..ir import Function, Operation, TcCompilationError, Value
from ..ir.interpreter import evaluate_op
from ..ir.ops.builtin import Constant, Return, Shape, Size
from ..ir.ops.shape import Arange
from ..ir.ops.state import Load, Store
from .grid import KernelTarget
from .launch import Device, DeviceArray

Runtime = np.ndarray | DeviceArray  # a value while a program runs: on the host or the device
Step = Callable[[Device, list[Runtime]], list[Runtime]]
StepBuilder = Callable[["ProgramBuilder", Operation], Step]
STEP_BUILDERS: dict[type[Operation], StepBuilder] = {}
# Ops evaluated on the host when all their operands are: their results are sizes or indices.
HOST_OPS = (Shape, Size, Constant, Arange)


def device_step(*classes: type[Operation]) -> Callable[[StepBuilder], StepBuilder]:
    """Register the device lowering of `classes` (keyed by op class, no isinstance chain)."""

    def register(builder: StepBuilder) -> StepBuilder:
        for cls in classes:
            STEP_BUILDERS[cls] = builder
        return builder

    return register


@dataclass
class ProgramBuilder:
    """What a step builder may use at compile time."""

    target: KernelTarget
    module: ll.Module
    host: set[Value]  # the values placed on the host
    prefix: str = ""  # the function's name: kernel names are unique in a module
    kernels: list[str] = field(default_factory=list)
    _names: dict[str, int] = field(default_factory=dict)

    def kernel_name(self, base: str) -> str:
        """A fresh PTX-safe kernel name (letters, digits and underscores)."""
        safe = "".join(c if c.isalnum() else "_" for c in f"{self.prefix}_{base}")
        count = self._names.get(safe, 0)
        self._names[safe] = count + 1
        name = f"{safe}_{count}"
        self.kernels.append(name)
        return name

    def add_kernels(self, *names: str) -> None:
        """Entry points named by an emitter itself (listed so that they are kept)."""
        self.kernels.extend(names)

    def by_value(self, op: Operation) -> tuple[bool, ...]:
        """Per operand: a host scalar, passed to a kernel by value."""
        return tuple(v in self.host and v.type.rank == 0 for v in op.operands)


@dataclass
class Instruction:
    op: Operation
    operands: list[Value]
    results: list[Value]
    run: Step
    last_uses: list[Value] = field(default_factory=list)  # dropped after this step: memory back to the pool


@dataclass
class DeviceProgram:
    """One function's steps; `run` calls it on a device."""

    name: str
    instructions: list[Instruction]
    args: list[Value]
    results: list[Value]
    loads: dict[Value, str]  # loaded value -> global
    stores: list[tuple[str, Value]]

    def run(
        self, device: Device, args: Sequence[Runtime], globals: dict[str, DeviceArray]
    ) -> tuple[list[Runtime], list[tuple[str, Runtime]]]:
        """Results and (global, new value) updates; the caller applies the updates."""
        env: dict[Value, Runtime] = dict(zip(self.args, args, strict=True))
        for value, symbol in self.loads.items():
            env[value] = globals[symbol]
        for instruction in self.instructions:
            outputs = instruction.run(device, [env[v] for v in instruction.operands])
            env.update(zip(instruction.results, outputs, strict=True))
            for value in instruction.last_uses:
                del env[value]
        return [env[v] for v in self.results], [(symbol, env[v]) for symbol, v in self.stores]


def placement(function: Function) -> set[Value]:
    """The values computed on the host: rank-0 arguments, and the results of host-capable
    ops whose operands are all on the host and whose results are scalars or shapes."""
    host = {a for a in function.args if a.type.rank == 0}
    for op in function.body.ops:
        if isinstance(op, (Load, Store, Return)) or not op.results:
            continue
        operands_on_host = all(v in host for v in op.operands)
        small = all(r.type.rank == 0 for r in op.results) or isinstance(op, HOST_OPS)
        if operands_on_host and small and _has_reference(op):
            host.update(op.results)
        elif isinstance(op, (Shape, Size)):  # only the operand's shape is read
            host.update(op.results)
    return host


def _has_reference(op: Operation) -> bool:
    return type(op).evaluate is not Operation.evaluate


def build_program(
    function: Function, target: KernelTarget, module: ll.Module
) -> tuple[DeviceProgram, list[str]]:
    """The program of `function`, its kernels emitted into `module`; also the kernel names."""
    # Steps register themselves on import.
    from . import steps  # noqa: F401

    host = placement(function)
    builder = ProgramBuilder(target, module, host, prefix=function.name)
    instructions = []
    loads: dict[Value, str] = {}
    stores: list[tuple[str, Value]] = []
    for op in function.body.ops:
        if isinstance(op, Return):
            continue
        if isinstance(op, Load):
            loads[op.results[0]] = op.symbol
            continue
        if isinstance(op, Store):
            stores.append((op.symbol, op.operands[0]))
            continue
        if isinstance(op, (Shape, Size)):  # of a device array: its shape, never its data
            run = _shape_step(op)
        elif isinstance(op, Constant):
            run = _constant_step(op)
        elif op.results[0] in host:
            run = _host_step(op)
        else:
            step_builder = STEP_BUILDERS.get(type(op))
            if step_builder is None:
                raise TcCompilationError(
                    f"'{op.name}' at {op.location} has no GPU lowering yet; "
                    "compile this function for the CPU (device='cpu')"
                )
            run = step_builder(builder, op)
        instructions.append(Instruction(op, list(op.operands), list(op.results), run))
    results = list(function.return_op.operands)
    _mark_last_uses(instructions, {*results, *(v for _, v in stores)})
    program = DeviceProgram(function.name, instructions, list(function.args), results, loads, stores)
    return program, builder.kernels


def _mark_last_uses(instructions: list[Instruction], kept: set[Value]) -> None:
    """Record where each value is read for the last time, so a call's temporaries go back to the
    memory pool as soon as they are dead (later steps reuse them) instead of at the end of the call.
    Work on one stream keeps that safe: a kernel still reading a buffer runs before any later one
    that is given the same memory."""
    seen: set[Value] = set(kept)
    for instruction in reversed(instructions):
        for value in instruction.operands:
            if value not in seen:
                seen.add(value)
                instruction.last_uses.append(value)
        for value in instruction.results:  # defined and never read
            if value not in seen:
                seen.add(value)
                instruction.last_uses.append(value)


def as_device(device: Device, value: Runtime) -> DeviceArray:
    """A kernel operand on the device: host values (small: shapes, aranges) are uploaded; a
    constant (a read-only host array, see _constant_step) once per device."""
    if not isinstance(value, np.ndarray):
        return value
    if value.flags.writeable:
        return device.upload(np.ascontiguousarray(value))
    cache: dict[int, tuple[np.ndarray, DeviceArray]] = device.__dict__.setdefault("constants", {})
    entry = cache.get(id(value))
    if entry is None or entry[0] is not value:
        entry = cache[id(value)] = (value, device.upload(np.ascontiguousarray(value)))
    return entry[1]


def _constant_step(op: Constant) -> Step:
    """A constant's value, made once, read-only: so its upload to the device happens once."""
    value = np.array(op.value, dtype=op.results[0].type.dtype.numpy)
    value.flags.writeable = False

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        return [value]

    return run


def scalar_argument(value: Runtime) -> int | float:
    """A rank-0 host value as a kernel's by-value parameter."""
    item = np.asarray(value).item()
    return int(item) if isinstance(item, bool) else item


def _host_step(op: Operation) -> Step:
    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        return evaluate_op(op, [np.asarray(v) for v in operands])  # type: ignore[arg-type]

    return run


def _shape_step(op: Operation) -> Step:
    """tx.shape / tx.size of a device array: read from its shape, never from the device."""

    def run(device: Device, operands: list[Runtime]) -> list[Runtime]:
        shape = operands[0].shape
        if isinstance(op, Shape):
            return [np.array(shape, np.int64)]
        return [np.array(int(np.prod([shape[a] for a in op.axes], dtype=np.int64)), np.int64)]

    return run
