"""Wire the stages together: build -> passes -> codegen -> runtime.

The only module that knows every stage; each stage knows only those below it.
"""

from __future__ import annotations

import functools
import os
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from tc.frontend.config import DEVICES, config
from tc.frontend.graph import Variable
from tc.frontend.lower import build_function
from tc.frontend.shared import SharedVariable
from tc.ir import (
    Function,
    Module,
    TcError,
    TcTypeError,
    TcValueError,
    initial_state,
    parse_module,
    print_module,
    verify_module,
)
from tc.ir.calling import calling_convention
from tc.ir.printer import print_module_texts
from tc.ir.shapes import ShapePlan
from tc.passes import LOWER_PIPELINE, OPTIMIZE_PIPELINE
from tc.runtime import CompiledFunction, InputSpec
from tc.runtime.blas import blas_routines
from tc.runtime.memory import keep_freed_memory
from tc.runtime.shared import SharedBuffer

from . import collector, compile_log, pass_cache, tiering
from .arguments import Pairs, check_givens, check_outputs, check_updates, default_updates, pairs
from .function_pickle import pickle_recipe, rebuild_function
from .inputs import In, check_defaults, configure_inputs, split_inputs
from .library_parts import give_library, packed_call, prefetch_support_library
from .native_entry import defer_native_entry
from .object_cache import native_code

if TYPE_CHECKING:
    from tc.codegen_llvm import NativeModule


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
    with compile_log.compiling(function_name), collector.paused():
        with compile_log.stage("build"):
            built = build_function(
                function_name, variables, output_list, update_pairs, given_pairs, verify=False
            )
        buffers = {symbol: variable.container for symbol, variable in built.shared.items()}
        compiled = compile_ir_module(
            built.module,
            {function_name: single},
            bool(allow_input_downcast),
            buffers,
            on_unused_input,
            target_device,
            profiled,
        )[function_name]
    return configure_inputs(compiled, variables, input_options)


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
            prefetch_support_library(module)
        stages, plans = optimize_module(module, on_unused_input)
        stages = StageTexts(stages)
        if device in ("cuda", "emulated"):  # "emulated": the GPU path on the host, for tests
            from .compile_cuda import cuda_functions

            with compile_log.stage("gpu programs"):
                emulated = device == "emulated"
                return cuda_functions(  # type: ignore[return-value]
                    module, stages, plans, single_output, allow_input_downcast, shared_buffers, emulated
                )
        native = native_code(module, stages["tir-opt"], profile=profile)
        stages.include(native.stages)
        dump_stages(stages)
        options = (single_output, allow_input_downcast, shared_buffers)
        return make_functions(module, native, plans, stages, *options, profile=profile)


DUMP_STAGES = ("tir", "tir-opt", "llvm", "llvm-opt", "asm")


class StageTexts(dict[str, str]):
    """Each compilation stage's text. `asm` is made from `llvm-opt` the first time it is read
    (`f.dump("asm")`, TC_DUMP=asm): emitting assembly costs about a third of a compile. The
    LLVM stages of cached code are read when first asked for (`include`)."""

    later: Mapping[str, str] = {}

    def include(self, texts: Mapping[str, str]) -> None:
        """Add `texts`, a mapping that may read them only when asked."""
        self.later = texts

    def __missing__(self, stage: str) -> str:
        if stage in self.later:
            self[stage] = text = self.later[stage]
            return text
        if stage == "asm" and "llvm-opt" in self:
            from tc.codegen_llvm.objectcode import assembly_of

            self["asm"] = text = assembly_of(self["llvm-opt"])
            return text
        raise KeyError(stage)

    def __contains__(self, stage: object) -> bool:
        return super().__contains__(stage) or stage in self.later or (stage == "asm" and "llvm-opt" in self)

    def __iter__(self) -> Iterator[str]:
        yield from super().__iter__()
        yield from (stage for stage in self.later if not dict.__contains__(self, stage))
        if not super().__contains__("asm") and "llvm-opt" in self:
            yield "asm"


def dump_stages(stages: dict[str, str]) -> None:
    """TC_DUMP=tir,tir-opt,llvm,llvm-opt,asm prints those stages as functions compile
    (an environment switch, as numba's NUMBA_DUMP_*); an unknown name is warned about."""
    wanted = [s.strip() for s in os.environ.get("TC_DUMP", "").split(",") if s.strip()]
    unknown = [s for s in wanted if s not in DUMP_STAGES]
    if unknown:
        warnings.warn(
            f"TC_DUMP: unknown stage(s) {', '.join(map(repr, unknown))}; the stages are "
            f"{', '.join(DUMP_STAGES)}",
            stacklevel=2,
        )
    for stage in (s for s in wanted if s in stages):
        print(f"// ----- {stage} -----\n{stages[stage]}")


def optimize_module(
    module: Module, on_unused_input: str = "ignore"
) -> tuple[dict[str, str], dict[str, ShapePlan]]:
    """Run the pass pipeline in place; return the IR stages' text and each function's shape plan.

    The shape plans are derived before fusion, so a shape error names the user's
    op rather than a fused kernel.
    """
    plain, located = print_module_texts(module)
    stages = {"tir": plain}
    # Keyed and kept with the ops' locations, which error messages name.
    key = pass_cache.key_of(located, (*OPTIMIZE_PIPELINE, "|", *LOWER_PIPELINE))
    cached = _cached_pipeline(key)
    if cached is not None:
        pipelined, (optimized, plans) = cached
        compile_log.note("passes cached")
        for function in optimized.functions:
            _check_unused_inputs(function.name, pipelined.unused.get(function.name, []), on_unused_input)
        module.functions[:] = optimized.functions
        return {**stages, **pipelined.texts}, plans
    from tc.passes.manager import PassManager, parse_pipeline  # (a warm start runs no pass)

    verify_module(module)  # (text the pass cache has was verified before it was stored)
    with compile_log.stage("passes"):
        PassManager(parse_pipeline(OPTIMIZE_PIPELINE), verify_each=False).run(module)
        unused = {f.name: _unused_inputs(f) for f in module.functions}
        for name, names in unused.items():
            _check_unused_inputs(name, names, on_unused_input)
    with compile_log.stage("shape plans"):
        plans = {f.name: shape_plan(module, f) for f in module.functions}
    with compile_log.stage("passes"):
        stages["tir-planned"] = print_module(module)  # what the plans were derived from (artifacts keep it)
        PassManager(parse_pipeline(LOWER_PIPELINE), verify_each=False).run(module)
        stages["tir-opt"] = print_module(module)
    pass_cache.store(key, stages, unused, plans, module)
    return stages, plans


def _cached_pipeline(key: str) -> tuple[pass_cache.Pipelined, tuple[Module, dict[str, ShapePlan]]] | None:
    """What the pass cache has for `key` and the optimised module and shape plans it rebuilds."""
    cached = pass_cache.load(key)
    if cached is None:
        return None
    try:
        with compile_log.stage("thaw"):
            return cached, cached.results()
    except TcError:
        return None  # a damaged entry: the pipeline runs again and replaces it


def shape_plan(module: Module, function: Function) -> ShapePlan:
    convention = calling_convention(module, function)
    return ShapePlan(function, [(g, convention.global_types[g]) for g in convention.globals])


def make_functions(
    module: Module,
    native: NativeModule,
    plans: dict[str, ShapePlan],
    stages: dict[str, str],
    single_output: dict[str, bool] | None = None,
    allow_input_downcast: bool = False,
    shared_buffers: dict[str, SharedBuffer] | None = None,
    native_entries: bool = True,
    compiled_by: str = "tc.function",
    profile: bool = False,
) -> dict[str, CompiledFunction]:
    """The callables over compiled code for every function of an optimised `module`.

    `native_entries=False` skips the CPython-level entries of scalar functions,
    which are JIT-compiled here (a loaded artifact compiles nothing). `profile`: the code
    was compiled profiled; each callable gets its `profile`.
    """
    with compile_log.stage("blas"):  # finding BLAS imports scipy, once, when there is a product
        native.set_blas(blas_routines)
    give_library(native)
    keep_freed_memory()
    started = time.perf_counter()
    buffers = dict(shared_buffers or {})
    initial = initial_state(module)
    for glob in module.globals:
        if glob.name not in buffers:
            buffers[glob.name] = SharedBuffer.from_value(initial[glob.name], glob.name)
    built = functools.cache(functools.partial(parse_module, stages["tir"])) if "tir" in stages else None
    compiled = {}
    for function in module.functions:
        name = function.name
        convention = calling_convention(module, function)
        # plan-buffers decided which updates may write the shared buffer itself.
        stores = [
            (convention.globals.index(op.symbol), op.attributes.get("in_place") is True)
            for op in convention.stores
        ]
        compiled[name] = CompiledFunction(
            name,
            [InputSpec(a.name or f"#{i}", a.type) for i, a in enumerate(function.args)],
            function.result_types,
            native.cfunction(name),
            plans[name],
            stages,
            _IRStages(function, built),
            (single_output or {}).get(name, len(function.result_types) == 1),
            allow_input_downcast,
            config.floatX,
            code_owner=native,
            shared=[buffers[g] for g in convention.globals],
            stores=stores,
            compiled_by=compiled_by,
        )
        compiled[name].use_packed_call(packed_call(), native.addresses[name], convention.slot_ranks)
        recipe = pickle_recipe(name, convention.globals, native_entries, compiled_by)
        compiled[name].enable_pickling(rebuild_function, recipe)
        if profile:
            from tc.runtime.profile import function_profile  # (loaded when a function is profiled)

            stats = function_profile(function)
            native.set_profile(name, stats.address)
            compiled[name].enable_profile(stats)
        elif native_entries and compiled[name].scalar_only:
            defer_native_entry(compiled[name], function, native.addresses[name])
        tiering.optimise_when_called(native, compiled[name])
    compile_log.record("functions", time.perf_counter() - started)
    return compiled


class _IRStages(Mapping[str, Function]):
    """A compiled function's IR by stage. 'tir' (as built) is parsed from the module's text
    only when first asked for: parsing it on every compile was a large share of the time."""

    def __init__(self, optimized: Function, built: Callable[[], Module] | None) -> None:
        self._optimized = optimized
        self._built = built

    def __getitem__(self, stage: str) -> Function:
        if stage == "tir-opt":
            return self._optimized
        if stage == "tir" and self._built is not None:
            return self._built().function(self._optimized.name)
        raise KeyError(stage)

    def __iter__(self) -> Iterator[str]:
        return iter(["tir-opt", "tir"] if self._built is not None else ["tir-opt"])

    def __len__(self) -> int:
        return 2 if self._built is not None else 1


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
    warnings.warn(f"unused input(s) {', '.join(unused)} of function '{function}'", stacklevel=5)
