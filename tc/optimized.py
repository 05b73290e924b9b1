"""An optimised module as the code's callables need it: each function's interface (its
arguments, results and calling convention), and the IR itself only when asked for.

A warm start finds the optimised IR in the pass cache (pass_cache.py) and its object code in
the compile cache. Making the callables needs only names, types and the calling convention;
rebuilding the module from its records (ir/flat.py) took an MLP train step's warm start
about a millisecond. So the pass cache keeps each function's interface beside the records,
and the module is rebuilt when something needs the IR itself: `f.ir`, the lowering of code
the compile cache lacks, a profiled function, a global with an initial value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from tc.ir import Function, Global, Module, initial_state
from tc.ir.calling import calling_convention
from tc.ir.ops.head import trimmed_results
from tc.ir.ops.indexing import index_checks
from tc.ir.shapes import ShapePlan
from tc.ir.types import TensorType


class FunctionInterface:
    """What calling one compiled function takes: its arguments, results, the globals it reads
    (in slot order), its stores (the index in `globals` of each stored global, and whether
    plan-buffers let it write the global's own buffer), the rank of each entry slot, how many
    indices its code checks and which results it trims (`tx.head`)."""

    # (A plain class: defining a NamedTuple cost every warm start about 0.1 ms.)
    __slots__ = (
        "name",
        "arg_names",
        "arg_types",
        "result_types",
        "globals",
        "stores",
        "slot_ranks",
        "checks_and_trims",
    )

    def __init__(
        self,
        name: str,
        arg_names: tuple[str | None, ...],
        arg_types: tuple[TensorType, ...],
        result_types: tuple[TensorType, ...],
        globals: tuple[str, ...],
        stores: tuple[tuple[int, bool], ...],
        slot_ranks: tuple[int, ...],
        checks_and_trims: tuple[int, tuple[int, ...]],
    ) -> None:
        self.name, self.arg_names, self.arg_types = name, arg_names, arg_types
        self.result_types, self.globals, self.stores = result_types, globals, stores
        self.slot_ranks, self.checks_and_trims = slot_ranks, checks_and_trims

    @classmethod
    def of(cls, module: Module, function: Function) -> FunctionInterface:
        convention = calling_convention(module, function)
        stores = tuple(
            (convention.globals.index(op.symbol), op.attributes.get("in_place") is True)
            for op in convention.stores
        )
        return cls(
            function.name,
            tuple(a.name for a in function.args),
            tuple(a.type for a in function.args),
            tuple(function.result_types),
            convention.globals,
            stores,
            convention.slot_ranks,
            (len(index_checks(function)), tuple(trimmed_results(function))),
        )

    def __reduce__(self) -> tuple[type[FunctionInterface], tuple[object, ...]]:
        return FunctionInterface, tuple(getattr(self, name) for name in self.__slots__)


class OptimizedModule:
    """The interfaces of an optimised module's functions, its globals (name, type, whether it
    has an initial value), and the module, made by `thaw` when first asked for."""

    def __init__(
        self,
        functions: tuple[FunctionInterface, ...],
        globals: tuple[tuple[str, TensorType, bool], ...],
        thaw: Callable[[], Module],
    ) -> None:
        self.functions, self.globals, self._thaw = functions, globals, thaw

    @classmethod
    def of(cls, module: Module) -> OptimizedModule:
        """The optimised `module` itself, its interfaces read from it."""
        functions = tuple(FunctionInterface.of(module, f) for f in module.functions)
        globals_ = tuple((g.name, g.type, g.initial is not None) for g in module.globals)
        return cls(functions, globals_, lambda: module)

    @functools.cached_property
    def module(self) -> Module:
        return self._thaw()

    def function(self, name: str) -> Function:
        return self.module.function(name)

    def initial_values(self, names: set[str]) -> dict[str, np.ndarray]:
        """ir.initial_state of the globals in `names` (zeros where one has no initial value),
        the module rebuilt only where one has."""
        if any(initial for name, _, initial in self.globals if name in names):
            globals_ = self.module.globals
        else:
            globals_ = [Global(name, type_) for name, type_, _ in self.globals]
        return initial_state(Module(globals=[g for g in globals_ if g.name in names]))

    def interface(self) -> tuple[tuple[FunctionInterface, ...], tuple[tuple[str, TensorType, bool], ...]]:
        """What a cache keeps to remake this object over other records (`functions`, `globals`)."""
        return self.functions, self.globals


class Optimized:
    """What the pass pipeline made of a module (compile.optimize): each IR stage's text, each
    function's shape plan, the optimised module, and the pass cache's key for all of it."""

    __slots__ = ("texts", "plans", "module", "key")

    def __init__(
        self, texts: dict[str, str], plans: dict[str, ShapePlan], module: OptimizedModule, key: str
    ) -> None:
        self.texts, self.plans, self.module, self.key = texts, plans, module, key
