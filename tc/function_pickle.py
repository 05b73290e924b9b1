"""Unpickling compiled functions: rebuild one from its IR and its pickled state.

`make_functions` attaches `rebuild_function` to every CPU function it makes,
`cuda_functions` `rebuild_device_function` to every GPU one (runtime/function_copy.py
says what the state holds). Rebuilding parses the
IR as planned and as compiled, takes the native code from the compile cache
(or compiles it again: the key is the compiled IR and the host), and makes the
function over the pickled shared buffers, so a function pickled with its
shared variables updates the unpickled variables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tc.ir import Module, parse_module
from tc.ir.shapes import ShapePlan
from tc.runtime import CompiledFunction
from tc.runtime.function_copy import restore_function


def pickle_recipe(
    function_name: str, global_names: Sequence[str], native_entries: bool, compiled_by: str
) -> tuple[str, tuple[str, ...], bool, str]:
    """What `rebuild_function` needs besides the state the function pickles itself."""
    return (function_name, tuple(global_names), native_entries, compiled_by)


def _parse(state: Mapping[str, Any]) -> tuple[dict[str, str], Module, dict[str, ShapePlan]]:
    """The IR stages, the compiled module and the shape plans (from the IR as planned)."""
    from .compile import shape_plan

    ir_stages = dict(state["stages"])
    module = parse_module(ir_stages["tir-opt"], "<pickled tc function>")
    planned = parse_module(ir_stages["tir-planned"], "<pickled tc function>")
    return ir_stages, module, {f.name: shape_plan(planned, f) for f in planned.functions}


def rebuild_function(recipe: Sequence[Any], state: Mapping[str, Any]) -> CompiledFunction:
    """The function `recipe` and `state` describe, compiled (or loaded) in this process."""
    from .callables import StageTexts, make_functions
    from .object_cache import native_code
    from .optimized import OptimizedModule

    function_name, global_names, native_entries, compiled_by = recipe
    ir_stages, module, plans = _parse(state)
    optimized = OptimizedModule.of(module)
    native = native_code(optimized, ir_stages["tir-opt"])
    stages = StageTexts(ir_stages)
    stages.include(native.stages)  # read when asked for (quick code's optimised text comes later)
    buffers = dict(zip(global_names, state["shared"], strict=True))
    functions = make_functions(
        optimized,
        native,
        plans,
        stages,
        {function_name: bool(state["single"])},
        bool(state["allow_input_downcast"]),
        buffers,
        native_entries,
        compiled_by,
    )
    return restore_function(functions[function_name], state)


def rebuild_device_function(recipe: Sequence[Any], state: Mapping[str, Any]) -> CompiledFunction:
    """A GPU function (`recipe`: name, global names, emulated, compiled_by) in this process."""
    from .compile_cuda import cuda_functions

    function_name, global_names, emulated, compiled_by = recipe
    ir_stages, module, plans = _parse(state)
    functions = cuda_functions(
        module,
        ir_stages,
        plans,
        {function_name: bool(state["single"])},
        bool(state["allow_input_downcast"]),
        dict(zip(global_names, state["shared"], strict=True)),
        bool(emulated),
        compiled_by=compiled_by,
    )
    return restore_function(functions[function_name], state)
