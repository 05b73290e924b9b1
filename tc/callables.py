"""From an optimised module to its callables: native code from the compile cache or made
(object_cache.py), and a CompiledFunction over each function's entry point, with its
stages' text and IR for `f.dump` and `f.ir`."""

from __future__ import annotations

import functools
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from tc.frontend.config import config
from tc.ir import Function, Module, parse_module
from tc.ir.shapes import ShapePlan
from tc.runtime import CompiledFunction, InputSpec
from tc.runtime.blas import blas_routines
from tc.runtime.memory import keep_freed_memory
from tc.runtime.shared import SharedBuffer

from . import compile_log, tiering
from .function_pickle import pickle_recipe, rebuild_function
from .library_parts import give_library, packed_call
from .native_entry import defer_native_entry
from .object_cache import native_code
from .optimized import OptimizedModule

if TYPE_CHECKING:
    from tc.codegen_llvm import NativeModule


def native_functions(
    optimized: OptimizedModule,
    stages: StageTexts,
    plans: dict[str, ShapePlan],
    options: tuple[dict[str, bool] | None, bool, dict[str, SharedBuffer] | None],
    profile: bool,
) -> dict[str, CompiledFunction]:
    """The CPU's callables for `optimized`: its code from the compile cache, or made."""
    native = native_code(optimized, stages["tir-opt"], profile=profile)
    stages.include(native.stages)
    dump_stages(stages)
    return make_functions(optimized, native, plans, stages, *options, profile=profile)


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


def make_functions(
    optimized: OptimizedModule,
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
    """The callables over compiled code for every function of an optimised module.

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
    unbuffered = {name for name, _, _ in optimized.globals if name not in buffers}
    for name, value in optimized.initial_values(unbuffered).items():
        buffers[name] = SharedBuffer.from_value(value, name)
    built = functools.cache(functools.partial(parse_module, stages["tir"])) if "tir" in stages else None
    compiled = {}
    for function in optimized.functions:
        name = function.name
        arguments = zip(function.arg_names, function.arg_types, strict=True)
        compiled[name] = CompiledFunction(
            name,
            [InputSpec(arg or f"#{i}", t) for i, (arg, t) in enumerate(arguments)],
            list(function.result_types),
            native.cfunction(name),
            plans[name],
            stages,
            IRStages(optimized, name, built),
            (single_output or {}).get(name, len(function.result_types) == 1),
            allow_input_downcast,
            config.floatX,
            code_owner=native,
            shared=[buffers[g] for g in function.globals],
            stores=list(function.stores),  # plan-buffers decided which may write the buffer itself
            compiled_by=compiled_by,
            checks_and_trims=function.checks_and_trims,
        )
        compiled[name].use_packed_call(packed_call(), native.addresses[name], function.slot_ranks)
        recipe = pickle_recipe(name, function.globals, native_entries, compiled_by)
        compiled[name].enable_pickling(rebuild_function, recipe)
        if profile:
            from tc.runtime.profile import function_profile  # (loaded when a function is profiled)

            stats = function_profile(optimized.function(name))
            native.set_profile(name, stats.address)
            compiled[name].enable_profile(stats)
        elif native_entries and compiled[name].scalar_only:
            defer_native_entry(compiled[name], function, native.addresses[name])
        tiering.optimise_when_called(native, compiled[name])
    compile_log.record("functions", time.perf_counter() - started)
    return compiled


class IRStages(Mapping[str, Function]):
    """A compiled function's IR by stage: 'tir-opt' (optimised) rebuilt from the pass cache's
    records and 'tir' (as built) parsed from the module's text, each when first asked for:
    parsing it on every compile was a large share of the time."""

    def __init__(self, optimized: OptimizedModule, name: str, built: Callable[[], Module] | None) -> None:
        self._optimized, self._name, self._built = optimized, name, built

    def __getitem__(self, stage: str) -> Function:
        if stage == "tir-opt":
            return self._optimized.function(self._name)
        if stage == "tir" and self._built is not None:
            return self._built().function(self._name)
        raise KeyError(stage)

    def __contains__(self, stage: object) -> bool:
        return stage == "tir-opt" or (stage == "tir" and self._built is not None)  # (nothing rebuilt)

    def __iter__(self) -> Iterator[str]:
        return iter(["tir-opt", "tir"] if self._built is not None else ["tir-opt"])

    def __len__(self) -> int:
        return 2 if self._built is not None else 1
