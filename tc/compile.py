"""Wire the stages together: build -> passes -> codegen -> runtime.

The only module that knows every stage; each stage knows only those below it.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Sequence

from tc.frontend.config import DEVICES, config
from tc.frontend.graph import Variable, user_location
from tc.frontend.graph_key import function_graph
from tc.frontend.lower import build_function
from tc.frontend.shared import SharedVariable
from tc.ir import (
    Function,
    Module,
    TcError,
    TcTypeError,
    TcValueError,
    print_module,
    verify_module,
)
from tc.ir.calling import calling_convention
from tc.ir.printer import print_module_texts
from tc.ir.shapes import ShapePlan
from tc.passes import LOWER_PIPELINE, OPTIMIZE_PIPELINE
from tc.runtime import CompiledFunction
from tc.runtime.shared import SharedBuffer

from . import collector, compile_log, function_cache, pass_cache, tiering
from .arguments import Pairs, check_givens, check_outputs, check_updates, default_updates, pairs
from .callables import StageTexts, native_functions
from .inputs import In, check_defaults, configure_inputs, split_inputs
from .library_parts import prefetch_support_library, support_parts
from .optimized import Optimized, OptimizedModule


def shared(
    value: object,
    name: str | None = None,
    borrow: bool = False,
    strict: bool = False,
    allow_downcast: bool | None = None,
    device: str | None = None,
) -> SharedVariable:
    """Theano's `shared`: a variable whose value persists between calls and that
    functions may update (`updates=`). Python int -> int64, float -> float64.
    `device="cuda"` (or `tc.config.device`) keeps the value in GPU memory."""
    buffer = SharedBuffer.from_value(value, name or "shared", borrow, strict, allow_downcast)
    if _device(device) == "cuda":
        from tc.runtime.cuda import cuda_context

        buffer.device_value(cuda_context())
    return SharedVariable(buffer, name)


def _device(device: str | None) -> str:
    chosen = config.device if device is None else device
    if chosen not in (*DEVICES, "emulated"):
        raise TcValueError(f"device must be one of {DEVICES}, found {chosen!r}")
    return chosen


def profile_option(profile: object, device: str) -> bool:
    """profile=True, False or None (off); only the CPU's code can time its ops."""
    if profile not in (None, False, True):
        raise TcTypeError(f"profile must be True or False, found {profile!r}")
    if profile and device != "cpu":
        raise TcValueError(
            f"profile=True times the ops of CPU code; device {device!r} cannot be profiled yet"
        )
    return bool(profile)


def function(
    inputs: Sequence[Variable | In],
    outputs: Variable | Sequence[Variable] | None = None,
    updates: Pairs = None,
    givens: Pairs = None,
    allow_input_downcast: bool | None = None,
    name: str | None = None,
    on_unused_input: str = "raise",
    no_default_updates: bool | Sequence[Variable] = False,
    mode: object = None,
    device: str | None = None,
    profile: bool | None = None,
) -> CompiledFunction:
    """Compile a symbolic graph into a native callable (Theano's `theano.function`).

    Outputs and updates are all computed from the values before the call; the
    updates are applied only if the call succeeds. `mode` is accepted for
    Theano compatibility and ignored: tc has one way to compile. `device`:
    "cpu" or "cuda" (default `tc.config.device`, from TC_DEVICE). An input may be
    `tc.In(variable, value=default, name=keyword)`; calls may pass inputs by keyword.
    `profile=True` (Theano's ProfileMode): the code times each op, and `f.profile.summary()`
    prints where the calls' time went (runtime/profile.py).
    """
    target_device = _device(device)
    profiled = profile_option(profile, target_device)
    variables, input_options = split_inputs(inputs)
    check_defaults(input_options, bool(allow_input_downcast))
    if on_unused_input not in ("raise", "warn", "ignore"):
        raise TcValueError(f"on_unused_input must be 'raise', 'warn' or 'ignore', found {on_unused_input!r}")
    single = outputs is not None and not isinstance(outputs, (list, tuple))
    output_list = check_outputs([] if outputs is None else ([outputs] if single else list(outputs)))
    # Theano names may be any text; the IR symbol keeps the letters, digits and underscores.
    function_name = re.sub(r"\W", "_", name) if name else "f"
    if not function_name[0].isalpha() and function_name[0] != "_":
        function_name = "f_" + function_name
    update_pairs = check_updates(pairs(updates, "updates"))
    given_pairs = check_givens(pairs(givens, "givens"))
    roots = output_list + [expr for _, expr in update_pairs] + [new for _, new in given_pairs]
    update_pairs += default_updates(roots, update_pairs, no_default_updates)
    graph = (function_name, variables, output_list, update_pairs, given_pairs)
    options = ({function_name: single}, bool(allow_input_downcast))
    with compile_log.compiling(function_name), collector.paused():
        compiled = _compile_graph(graph, options, on_unused_input, target_device, profiled)[function_name]
    return configure_inputs(compiled, variables, input_options)


def _compile_graph(
    graph: tuple[str, list[Variable], list[Variable], Pairs, Pairs],
    options: tuple[dict[str, bool], bool],
    on_unused_input: str,
    device: str,
    profile: bool,
) -> dict[str, CompiledFunction]:
    """tc.function's callables for `graph` (name, inputs, outputs, updates, givens): from what
    an earlier compile of the same graph left (function_cache.py), or built and compiled."""
    if device == "cuda":
        from tc.runtime.cuda import cuda_context

        cuda_context()  # without a GPU, say so before any work
    text = None
    if device == "cpu":
        text = function_graph(*graph, user_location())
    key = function_cache.key_of(text[0]) if text is not None else None
    remembered = function_cache.load(key) if key is not None else None
    shared = remembered.shared(text[1]) if remembered is not None and text is not None else None
    if remembered is not None and shared is not None:
        buffers = {symbol: variable.container for symbol, variable in shared.items()}
        with tiering.compiling():
            prefetch_support_library(remembered.parts)
            optimized = optimized_from_cache(remembered.pass_key, {"tir": remembered.tir}, on_unused_input)
            if optimized is not None:
                compile_log.note("graph cached: nothing built")
                return _functions(optimized, (*options, buffers), device, profile)
    with compile_log.stage("build"):
        built = build_function(*graph, verify=False)  # type: ignore[arg-type]
    buffers = {symbol: variable.container for symbol, variable in built.shared.items()}
    with tiering.compiling():
        parts = support_parts(built.module) if device == "cpu" else []
        prefetch_support_library(parts)
        optimized = optimize(built.module, on_unused_input)
        compiled = _functions(optimized, (*options, buffers), device, profile)
    numbers = function_cache.numbers_of(built.shared, text[1]) if text is not None else None
    if key is not None and numbers is not None:
        tir = optimized.texts["tir"]
        function_cache.store(key, function_cache.Remembered(optimized.key, tir, parts, numbers))
    return compiled


def compile_ir_module(
    module: Module,
    single_output: dict[str, bool] | None = None,
    allow_input_downcast: bool = False,
    shared_buffers: dict[str, SharedBuffer] | None = None,
    on_unused_input: str = "ignore",
    device: str = "cpu",
    profile: bool = False,
) -> dict[str, CompiledFunction]:
    """Optimise and JIT every function of `module` at once; one callable per function.

    `single_output[name]` says whether that function returns one array or a list
    (default: one array when it has exactly one result). Globals without a
    buffer in `shared_buffers` get one holding their initial value. `device`:
    "cpu" (native code) or "cuda" (GPU kernels, see compile_cuda.py). `profile`: each
    callable's `profile` records where its calls' time goes (runtime/profile.py).
    """
    if device == "cuda":
        from tc.runtime.cuda import cuda_context

        cuda_context()  # without a GPU, say so before any work
    names = ",".join(f.name for f in module.functions)
    with compile_log.compiling(names), tiering.compiling(), collector.paused():
        if device == "cpu":
            prefetch_support_library(support_parts(module))
        optimized = optimize(module, on_unused_input)
        return _functions(optimized, (single_output, allow_input_downcast, shared_buffers), device, profile)


def _functions(
    optimized: Optimized,
    options: tuple[dict[str, bool] | None, bool, dict[str, SharedBuffer] | None],
    device: str,
    profile: bool,
) -> dict[str, CompiledFunction]:
    """The callables of an optimised module: `options` are make_functions' (single output,
    downcast, shared buffers)."""
    stages = StageTexts(optimized.texts)
    if device in ("cuda", "emulated"):  # "emulated": the GPU path on the host, for tests
        from .compile_cuda import cuda_functions

        with compile_log.stage("gpu programs"):
            module, emulated = optimized.module.module, device == "emulated"
            return cuda_functions(module, stages, optimized.plans, *options, emulated)  # type: ignore[return-value]
    return native_functions(optimized.module, stages, optimized.plans, options, profile)


def optimize_module(
    module: Module, on_unused_input: str = "ignore"
) -> tuple[dict[str, str], dict[str, ShapePlan]]:
    """Run the pass pipeline on `module` in place; return the IR stages' text and each
    function's shape plan."""
    optimized = optimize(module, on_unused_input)
    if optimized.module.module is not module:  # (from the pass cache)
        module.functions[:] = optimized.module.module.functions
    return optimized.texts, optimized.plans


def optimize(module: Module, on_unused_input: str = "ignore") -> Optimized:
    """The IR stages' text, each function's shape plan and the optimised module: `module`
    itself, changed by the passes, or from the pass cache (then `module` is left as built).

    The shape plans are derived before fusion, so a shape error names the user's
    op rather than a fused kernel.
    """
    plain, located = print_module_texts(module)
    # Keyed and kept with the ops' locations, which error messages name.
    key = pass_cache.key_of(located, (*OPTIMIZE_PIPELINE, "|", *LOWER_PIPELINE))
    cached = optimized_from_cache(key, {"tir": plain}, on_unused_input)
    if cached is not None:
        compile_log.note("passes cached")
        return cached
    from tc.passes.manager import run_needed  # (a warm start runs no pass)

    stages = {"tir": plain}
    verify_module(module)  # (text the pass cache has was verified before it was stored)
    with compile_log.stage("passes"):
        run_needed(module, OPTIMIZE_PIPELINE)
        unused = {f.name: _unused_inputs(f) for f in module.functions}
        for name, names in unused.items():
            _check_unused_inputs(name, names, on_unused_input)
    with compile_log.stage("shape plans"):
        plans = {f.name: shape_plan(module, f) for f in module.functions}
    with compile_log.stage("passes"):
        stages["tir-planned"] = print_module(module)  # what the plans were derived from (artifacts keep it)
        run_needed(module, LOWER_PIPELINE)
        stages["tir-opt"] = print_module(module)
    optimized = OptimizedModule.of(module)
    pass_cache.store(key, stages, unused, plans, optimized)
    return Optimized(stages, plans, optimized, key)


def optimized_from_cache(key: str, stages: dict[str, str], on_unused_input: str) -> Optimized | None:
    """What `optimize` returns, from the pass cache's entry `key` (None: no usable entry);
    `stages` has the built module's text."""
    pipelined = pass_cache.load(key)
    if pipelined is None:
        return None
    try:
        with compile_log.stage("pass cache"):
            optimized, plans = pipelined.results()
    except TcError:
        return None  # a damaged entry: the pipeline runs again and replaces it
    for function in optimized.functions:
        _check_unused_inputs(function.name, pipelined.unused.get(function.name, []), on_unused_input)
    return Optimized({**stages, **pipelined.texts}, plans, optimized, key)


def shape_plan(module: Module, function: Function) -> ShapePlan:
    convention = calling_convention(module, function)
    return ShapePlan(function, [(g, convention.global_types[g]) for g in convention.globals])


def _unused_inputs(function: Function) -> list[str]:
    return [a.name or f"#{i}" for i, a in enumerate(function.args) if not a.uses]


def _check_unused_inputs(function: str, unused: list[str], policy: str) -> None:
    if policy == "ignore" or not unused:
        return
    if policy == "raise":
        raise TcValueError(
            f"input(s) {', '.join(unused)} of function '{function}' are not used to compute the "
            "outputs; pass on_unused_input='ignore' to allow this"
        )
    warnings.warn(f"unused input(s) {', '.join(unused)} of function '{function}'", stacklevel=_user_level())


def _user_level() -> int:
    """The stack level of the first frame outside tc, as `warnings.warn` counts from its caller."""
    frame, level = sys._getframe(2), 2
    while frame.f_back is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "tc":
        frame, level = frame.f_back, level + 1
    return level
