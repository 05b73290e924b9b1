"""Passes, their registry, and the pass manager that runs a textual pipeline.

A pass is a class with a kebab-case `name`, made with no arguments. A pipeline is a
comma-separated list of names (`fold,cse,fuse`), runnable from Python (`run_pipeline`) and
from `tc opt`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import pkgutil
import time
from collections.abc import Callable, Iterable
from typing import ClassVar, TextIO

from ..ir import Function, Module, TcError, print_module, verify_module


class Pass:
    """Transforms every function of a module in place."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""

    def run(self, module: Module) -> None:
        for function in module.functions:
            # Loop bodies first (a scan's step is a function of its own), then the function.
            for body in function.nested_bodies():
                self.run_on_function(body)
            self.run_on_function(function)

    def run_on_function(self, function: Function) -> None:
        raise NotImplementedError


PASS_REGISTRY: dict[str, type[Pass]] = {}


@functools.cache
def register_all() -> None:
    """Import every module of the passes package, which registers their passes (a new pass
    file needs no edit anywhere else). The package itself imports none of them."""
    package = __name__.rpartition(".")[0]
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        importlib.import_module(f"{package}.{info.name}")


def register(cls: type[Pass]) -> type[Pass]:
    if cls.name in PASS_REGISTRY:
        raise RuntimeError(f"pass {cls.name} registered twice")
    PASS_REGISTRY[cls.name] = cls
    return cls


class TcPassError(TcError, ValueError):
    """An unknown pass name, or a pass that broke the IR (with a reproducer)."""


def parse_pipeline(pipeline: str | Iterable[str]) -> list[Pass]:
    names = [n.strip() for n in pipeline.split(",")] if isinstance(pipeline, str) else list(pipeline)
    return [pass_named(name)() for name in filter(None, names)]


def pass_named(name: str) -> type[Pass]:
    """The pass registered as `name`. Its module is imported by the name (`fuse-gemm` from
    fuse_gemm.py), or where that finds none, with every other pass module: a compile then
    imports only the passes it runs (a scalar function's cold compile skipped 3 modules, 0.7
    ms), and a pass module of another name still needs no edit anywhere else."""
    if name not in PASS_REGISTRY and _pass_name(name):
        package = __name__.rpartition(".")[0]
        module = f"{package}.{name.replace('-', '_')}"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    if name not in PASS_REGISTRY:
        register_all()
    if name not in PASS_REGISTRY:
        known = ", ".join(sorted(PASS_REGISTRY))
        raise TcPassError(f"unknown pass '{name}'; known passes: {known}")
    return PASS_REGISTRY[name]


def _pass_name(name: str) -> bool:
    """Whether `name` is of a pass's form, `[a-z][a-z0-9-]*` (a regular expression's compile
    took a cold compile 0.3 ms)."""
    return name[:1].isalpha() and all(c in _PASS_NAME_LETTERS for c in name)


_PASS_NAME_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


class PassManager:
    """Runs passes in order, with MLIR-style instrumentation. `verify_each`: verify the IR
    after every pass, which names the pass that broke it; otherwise once after the last
    (tc.function's pipelines: verifying after each of their passes took 20-60 ms of a train
    step's cold compile)."""

    def __init__(
        self,
        passes: list[Pass],
        verify_each: bool = True,
        print_after: frozenset[str] | None = None,  # names, or None; `all` prints after every pass
        out: TextIO | None = None,
        on_stage: Callable[[str, Module], None] | None = None,
    ) -> None:
        self.passes, self.verify_each = passes, verify_each
        self.print_after, self.out, self.on_stage = print_after, out, on_stage
        self.timings: list[tuple[str, float]] = []

    def run(self, module: Module) -> Module:
        for p in self.passes:
            start = time.perf_counter()
            p.run(module)
            self.timings.append((p.name, time.perf_counter() - start))
            if self.verify_each:
                try:
                    verify_module(module)
                except TcError as err:
                    raise TcPassError(
                        f"pass '{p.name}' produced invalid IR: {err}\n"
                        f"reproducer: tc opt -p {p.name} on the IR before it"
                    ) from err
            if (
                self.print_after is not None
                and self.out is not None
                and ("all" in self.print_after or p.name in self.print_after)
            ):
                self.out.write(f"// -----// IR after {p.name} //----- //\n{print_module(module)}")
            if self.on_stage is not None:
                self.on_stage(p.name, module)
        if not self.verify_each and self.passes:
            names = ",".join(p.name for p in self.passes)
            try:
                verify_module(module)
            except TcError as err:
                raise TcPassError(
                    f"the pipeline '{names}' produced invalid IR: {err}\n"
                    f"reproducer: tc opt -p {names} --verify-each on the IR before it"
                ) from err
        return module

    def timing_report(self) -> str:
        total = sum(t for _, t in self.timings) or 1e-12
        lines = ["===-- pass execution timing report --===", f"  total: {total * 1e3:.3f} ms"]
        for name, seconds in self.timings:
            lines.append(f"  {seconds * 1e3:9.3f} ms  {100 * seconds / total:5.1f}%  {name}")
        return "\n".join(lines) + "\n"


def run_pipeline(module: Module, pipeline: str | Iterable[str], verify_each: bool = True) -> Module:
    return PassManager(parse_pipeline(pipeline), verify_each=verify_each).run(module)


def run_needed(module: Module, pipeline: Iterable[str]) -> None:
    """Run the passes `pipeline` names on `module`, verified once after the last, each but
    those that could change nothing: a pass of NEEDED_OPS whose ops the module lacks when its
    turn comes (its module is then not imported)."""
    from . import NEEDED_OPS

    names = list(pipeline)
    for name in names:
        needed = NEEDED_OPS.get(name)
        if needed is not None and not any(op.name in needed for f in module.functions for op in f.walk()):
            continue
        pass_named(name)().run(module)
    try:
        verify_module(module)
    except TcError as err:
        pipeline_text = ",".join(names)
        raise TcPassError(
            f"the pipeline '{pipeline_text}' produced invalid IR: {err}\n"
            f"reproducer: tc opt -p {pipeline_text} --verify-each on the IR before it"
        ) from err
