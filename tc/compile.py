"""Wire the stages together: build -> passes -> codegen -> runtime.

The only module that knows every stage; each stage knows only those below it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from tc.codegen_llvm import compile_module
from tc.frontend.config import config
from tc.frontend.graph import Variable
from tc.frontend.lower import build_function_ir
from tc.ir import Module, TcValueError, print_module
from tc.ir.shapes import ShapePlan
from tc.passes import PassManager, parse_pipeline
from tc.runtime import CompiledFunction, InputSpec

# Shape checks are derived before fusion, so an error names the user's op, not a kernel.
OPTIMIZE = ("canonicalize", "cse", "canonicalize")
LOWER = ("fuse", "cse")


def function(
    inputs: Sequence[Variable],
    outputs: Variable | Sequence[Variable] | None = None,
    updates: object = None,
    givens: object = None,
    allow_input_downcast: bool | None = None,
    name: str | None = None,
    on_unused_input: str = "raise",
    mode: object = None,
) -> CompiledFunction:
    """Compile a symbolic graph into a native callable (Theano's `theano.function`)."""
    if updates:
        raise TcValueError("updates= needs shared variables, which tc does not have yet")
    if givens:
        raise TcValueError("givens= is not supported yet")
    if on_unused_input not in ("raise", "warn", "ignore"):
        raise TcValueError(f"on_unused_input must be 'raise', 'warn' or 'ignore', found {on_unused_input!r}")
    single = outputs is not None and not isinstance(outputs, (list, tuple))
    output_list = [] if outputs is None else ([outputs] if single else list(outputs))  # type: ignore[list-item]
    function_name = name or "f"
    module = build_function_ir(function_name, list(inputs), output_list)
    _check_unused_inputs(module, function_name, on_unused_input)
    return compile_ir(module, function_name, single, bool(allow_input_downcast))


def compile_ir(
    module: Module, name: str, single_output: bool, allow_input_downcast: bool
) -> CompiledFunction:
    """Compile the function `name` of `module` (which is optimised in place)."""
    return compile_ir_module(module, {name: single_output}, allow_input_downcast)[name]


def compile_ir_module(
    module: Module, single_output: dict[str, bool] | None = None, allow_input_downcast: bool = False
) -> dict[str, CompiledFunction]:
    """Optimise and JIT every function of `module` at once; one callable per function.

    `single_output[name]` says whether that function returns one array or a list
    (default: one array when it has exactly one result).
    """
    stages = {"tir": print_module(module)}
    built = copy.deepcopy(module)
    PassManager(parse_pipeline(OPTIMIZE)).run(module)
    plans = {f.name: ShapePlan(f) for f in module.functions}
    PassManager(parse_pipeline(LOWER)).run(module)
    stages["tir-opt"] = print_module(module)
    native = compile_module(module)
    stages.update(native.stages)
    compiled = {}
    for function in module.functions:
        name = function.name
        inputs = [InputSpec(a.name or f"#{i}", a.type) for i, a in enumerate(function.args)]
        single = (single_output or {}).get(name, len(function.result_types) == 1)
        compiled[name] = CompiledFunction(
            name,
            inputs,
            function.result_types,
            native.cfunction(name),
            plans[name],
            stages,
            {"tir": built.function(name), "tir-opt": function},
            single,
            allow_input_downcast,
            config.floatX,
            code_owner=native,
        )
    return compiled


def _check_unused_inputs(module: Module, name: str, policy: str) -> None:
    if policy == "ignore":
        return
    unused = [a.name or f"#{i}" for i, a in enumerate(module.function(name).args) if not a.uses]
    if unused and policy == "raise":
        raise TcValueError(
            f"input(s) {', '.join(unused)} of function '{name}' are not used to compute the outputs; "
            "pass on_unused_input='ignore' to allow this"
        )
    if unused:
        import warnings

        warnings.warn(f"unused input(s) {', '.join(unused)} of function '{name}'", stacklevel=3)
