"""Compiling for the GPU: the optimised module -> device programs and PTX -> CudaFunctions.

The passes are the CPU's (compile.optimize_module); only the last stage
differs. The PTX of a module is kept in the compile cache, keyed like the
CPU's object code plus the GPU architecture, so a warm start compiles nothing.
"""

from __future__ import annotations

from typing import Any

from tc.codegen_ptx import target as nvptx
from tc.codegen_ptx.grid import EMULATED, NVPTX
from tc.codegen_ptx.launch import EmulatedDevice
from tc.codegen_ptx.program import DeviceProgram, build_program
from tc.frontend.config import config
from tc.ir import Module
from tc.ir.calling import calling_convention
from tc.ir.shapes import ShapePlan
from tc.runtime.cache import CompileCache, cache_directory, cache_key
from tc.runtime.cuda import CudaContext, CudaDevice, CudaModule, cuda_context, parameter_format
from tc.runtime.cuda_function import CudaFunction
from tc.runtime.function import InputSpec
from tc.runtime.shared import SharedBuffer

from .codegen_llvm import llvm_ir as ll
from .function_pickle import rebuild_device_function


def cuda_functions(
    module: Module,
    stages: dict[str, str],
    plans: dict[str, ShapePlan],
    single_output: dict[str, bool] | None,
    allow_input_downcast: bool,
    shared_buffers: dict[str, SharedBuffer] | None,
    emulated: bool = False,
    ptx: str | None = None,
    compiled_by: str = "tc.function",
) -> dict[str, CudaFunction]:
    """One CudaFunction per function of the optimised `module` (compile.optimize_module's result).

    `emulated`: the same programs with their kernels in the host's grid emulator and host
    memory standing in for the GPU's (codegen_ptx/launch.py): how CI tests this path.
    `ptx`: the module's PTX, already compiled (an artifact's): nothing is compiled then.
    """
    from .callables import IRStages
    from .optimized import OptimizedModule

    target = EMULATED if emulated else NVPTX
    llmodule = target.new_module()
    programs: dict[str, DeviceProgram] = {}
    kernels: list[str] = []
    for function in module.functions:
        programs[function.name], names = build_program(function, target, llmodule)
        kernels += [k for k in names if k not in kernels]
    if emulated:
        device: Any = EmulatedDevice(llmodule)
        context: Any = device
    else:
        context = cuda_context()
        context.set_tf32(config.cuda_tf32)
        if ptx is None:
            ptx = _compile(context, llmodule, kernels, stages)
        stages["ptx"] = ptx
        formats = {
            fn.name: parameter_format(fn.ftype.args) for fn in llmodule.functions if fn.name in kernels
        }
        device = CudaDevice(context, CudaModule(context, ptx, formats))

    buffers = dict(shared_buffers or {})
    optimized = OptimizedModule.of(module)
    for name, value in optimized.initial_values({g.name for g in module.globals} - set(buffers)).items():
        buffers[name] = SharedBuffer.from_value(value, name)
    compiled = {}
    for function in module.functions:
        name = function.name
        convention = calling_convention(module, function)
        stores = [(convention.globals.index(op.symbol), False) for op in convention.stores]
        compiled[name] = CudaFunction(
            name,
            [InputSpec(a.name or f"#{i}", a.type) for i, a in enumerate(function.args)],
            function.result_types,
            None,
            plans[name],
            stages,
            IRStages(optimized, name, None),
            (single_output or {}).get(name, len(function.result_types) == 1),
            allow_input_downcast,
            config.floatX,
            shared=[buffers[g] for g in convention.globals],
            stores=stores,
            program=programs[name],
            device=device,
            context=context,
            global_names=convention.globals,
            compiled_by=compiled_by,
        )
        recipe = (name, tuple(convention.globals), emulated, compiled_by)
        compiled[name].enable_pickling(rebuild_device_function, recipe)
    return compiled


def _compile(context: CudaContext, llmodule: ll.Module, kernels: list[str], stages: dict[str, str]) -> str:
    """The module's PTX for this GPU: from the compile cache, or compiled (and cached)."""
    from tc import __version__

    from .object_cache import compiler_fingerprint

    architecture = nvptx.architecture_for(context.compute_capability)
    fingerprint = compiler_fingerprint(gpu=True)
    key = cache_key(stages["tir-opt"], nvptx.TRIPLE, architecture, __version__, fingerprint)
    cache = CompileCache(cache_directory())
    hit = cache.get(key)
    if hit is not None:
        return hit[1].decode()
    stages["llvm-ptx"], ptx = nvptx.compile_ptx(llmodule, kernels, architecture)
    cache.put(key, {"architecture": architecture}, ptx.encode())
    return ptx


def module_ptx(module: Module, architecture: str) -> str:
    """The PTX of an optimised module for `architecture`, with no GPU (`tc compile --target cuda`)."""
    llmodule = NVPTX.new_module()
    kernels: list[str] = []
    for function in module.functions:
        _, names = build_program(function, NVPTX, llmodule)
        kernels += [k for k in names if k not in kernels]
    return nvptx.compile_ptx(llmodule, kernels, architecture)[1]
