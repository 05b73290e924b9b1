"""The callable that `tc.function` returns: check arguments, call native code, return arrays."""

from __future__ import annotations

import copy
import ctypes
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..ir import Function, TcValueError, TensorType
from ..ir.errors import TcIndexError, TcMemoryError
from ..ir.ops.head import trimmed_results
from ..ir.ops.indexing import FIRST_INDEX_STATUS, index_checks
from ..ir.shapes import ShapePlan
from .arguments import Converter, make_converter
from .call_errors import allocate, allocate_all, index_error
from .fastpath import SLOW, scalar_fast_path
from .function_copy import configure_input, copy_function, deep_copy_function, reduce_function
from .pycall import builtin_from_address
from .shared import SharedBuffer
from .signature import MISSING, Signature

if TYPE_CHECKING:
    from .profile import FunctionProfile

NativeCall = Callable[[ctypes.Array, ctypes.Array], int]


class InputSpec(NamedTuple):
    name: str
    type: TensorType


# tc_call_packed's statuses that say it called nothing (codegen_llvm/packed_call.py), and
# the type it takes arrays of.
RANKS_DIFFER, NOT_PACKED = -1, -2
NDARRAY = id(np.ndarray)


def _checks_and_trims(ir_functions: Mapping[str, Function]) -> tuple[int, Sequence[int]]:
    """How many indices the optimised IR's code checks, and which results it trims."""
    if "tir-opt" not in ir_functions:
        return 0, []
    optimized = ir_functions["tir-opt"]
    return len(index_checks(optimized)), trimmed_results(optimized)


class CompiledFunction:
    """A compiled tc function. Call it like the Theano function it replaces."""

    def __init__(
        self,
        name: str,
        inputs: Sequence[InputSpec],
        output_types: Sequence[TensorType],
        native: NativeCall,
        shape_plan: ShapePlan,
        stages: dict[str, str],
        ir_functions: Mapping[str, Function],
        single_output: bool,
        allow_input_downcast: bool = False,
        float_x: str = "float64",
        code_owner: object = None,
        shared: Sequence[SharedBuffer] = (),
        stores: Sequence[tuple[int, bool]] = (),
        compiled_by: str = "tc.function",
        checks_and_trims: tuple[int, Sequence[int]] | None = None,
    ) -> None:
        """`shared`: the buffers of the globals the function reads or writes, in slot order;
        `stores`: for each store, the index of its buffer in `shared` and whether it may be
        written in place; `compiled_by`: the call that made it (errors name it where the user
        can pass allow_input_downcast); `checks_and_trims`: _checks_and_trims(ir_functions),
        where it is known without reading the IR."""
        self.name, self.inputs = name, list(inputs)
        self._code_owner = code_owner  # keeps the JIT engine (and so `native`) alive
        self.output_types = list(output_types)
        self._native = native
        self._plan = shape_plan
        self._stages = stages
        self._ir = ir_functions
        self._single = single_output
        self._converters: list[Converter] = [
            make_converter(s.name, s.type, allow_input_downcast, float_x, compiled_by) for s in inputs
        ]
        self._out_dtypes = [t.dtype.numpy for t in output_types]
        self._allow_input_downcast = allow_input_downcast
        self._float_x, self._compiled_by = float_x, compiled_by
        self._signature = Signature(name, [s.name for s in inputs])
        self._input_options: list[dict[str, object] | None] = [None] * len(self.inputs)
        self._keep_updates = True  # False in a copy made with delete_updates=True
        self._rebuild: tuple[Callable[..., object], object] | None = None  # see enable_pickling
        self._shared = list(shared)
        self._stores = list(stores)
        # Locks taken in one global order, so two functions never wait on each other.
        self._locks = sorted({id(b.lock): b.lock for b in self._shared}.items())
        slots = len(inputs) + len(output_types) + len(self._shared) + len(self._stores)
        self._data_type = ctypes.c_void_p * slots
        # Checked indices report through `dims`, which the scalar paths do not size for it.
        self._index_checks, trimmed = checks_and_trims or _checks_and_trims(ir_functions)
        # Results of a length known after the call (tx.head): their position, and where in
        # `dims` the native code writes the rows it filled.
        ranks = [s.type.rank for s in inputs] + [t.rank for t in output_types]
        self._trims = [(k, 2 * sum(ranks[: len(inputs) + k])) for k in trimmed]
        self._fast = (
            None
            if native is None
            else scalar_fast_path(
                native,
                name,
                [s.type for s in inputs],
                output_types,
                self._shared,
                self._stores,
                single_output,
            )
        )
        if self._index_checks or self._trims or shape_plan.has_checks or shape_plan.uses_values:
            self._fast = None  # the plan's checks (an index in range) run on the general path only
        # None: the Python path. Not `self._call`: a bound method stored on `self` is a
        # reference cycle, and a function in a cycle (with its native code, which the
        # collector cannot see) lives until the next full collection, not its last use.
        self._entry: Callable[..., object] | None = None
        # A native entry still to be made (defer_native_entry): made after so many calls.
        self._tier_up: Callable[[CompiledFunction], None] | None = None
        self._calls_before_tier_up = 0
        self._entry_recipe: tuple[Callable[[CompiledFunction], None], int] | None = None
        # (start, calls left, seconds left, finish, big) of quick code's optimisation (optimise_after)
        self._optimise: tuple[Callable[[], None], int, float, Callable[[], None], int] | None = None
        self.profile: FunctionProfile | None = None  # set by enable_profile
        self._packed: tuple[Callable[..., int], int, type[ctypes.Array[ctypes.c_int64]]] | None = None

    def use_packed_call(self, call: Callable[..., int], entry: int, slot_ranks: Sequence[int]) -> None:
        """Call the entry at address `entry` through `call` (the support library's
        tc_call_packed), which reads the arrays' pointers, shapes and strides natively."""
        self._packed = (call, entry, ctypes.c_int64 * (2 * sum(slot_ranks) + 2))

    def enable_profile(self, profile: FunctionProfile) -> None:
        """Fold every call's op records into `profile` (the code must be compiled profiled).
        Calls take the general path, so that every one is timed the same way."""
        self.profile, self._fast, self._tier_up = profile, None, None

    @property
    def __call__(self) -> Callable[..., object]:
        """Calling the function runs `_entry`: the Python path, or a native one if installed.

        A property rather than a method so that a native entry is called with no
        Python frame in between.
        """
        return self._entry or self._call

    @property
    def scalar_only(self) -> bool:
        """Every argument, result and shared variable a scalar, and no run-time checks: the
        calls a native entry (use_native_entry) can take."""
        return self._fast is not None

    def shared_context(self) -> tuple[object, ...]:
        """What a native entry needs of the shared buffers (codegen_llvm/pycall_state.py):
        each buffer, the attribute holding its host array, each lock's acquire, then each
        lock's release, the locks in the order every call path takes them."""
        locks = [lock for _, lock in self._locks]
        acquires, releases = [lk.acquire for lk in locks], [lk.release for lk in locks]
        return (*self._shared, SharedBuffer.HOST_ATTRIBUTE, *acquires, *releases)

    def defer_native_entry(self, make: Callable[[CompiledFunction], None], after_calls: int) -> None:
        """Call `make(self)` (which installs a native entry) at the `after_calls`-th call: making
        one costs about 10 ms of LLVM, which a function called a few times never earns back."""
        self._tier_up, self._calls_before_tier_up = make, after_calls
        self._entry_recipe = (make, after_calls)  # a copy over other buffers makes its own

    def optimise_after(
        self, start: Callable[[], None], calls: int, seconds: float, finish: Callable[[], None], big: int
    ) -> None:
        """Call `start` (the background optimisation of quick code, tc/tiering.py) at the
        `calls`-th call, or after the first call that brings the calls' time to `seconds`. A call
        whose array arguments hold `big` elements or more calls `finish` first (start, and wait
        until the optimised code takes the calls), since quick code runs it several times slower."""
        self._optimise = (start, calls, seconds, finish, big)

    def use_native_entry(self, address: int, owner: object, context: tuple[object, ...] = ()) -> None:
        """Route calls to a METH_FASTCALL function at `address` (see codegen_llvm.pycall),
        which hands anything it does not take to the Python path; `context`: shared_context()
        for a function with shared variables."""
        makers = tuple(np.zeros((), dtype).copy for dtype in self._out_dtypes)
        # The fallback is a copy's `_call`, so the entry does not reference `self` (no
        # cycle, see __init__); the copy shares all state and keeps the code alive. The
        # entry's context owns its method definition and `owner`, so an entry held
        # without its function (`g = f.__call__; del f`) stays valid.
        general = copy.copy(self)._call
        keepalive: list[object] = []
        function, definition = builtin_from_address(
            self.name, address, (general, *makers, *context, keepalive)
        )
        keepalive += [definition, owner]
        self._entry = function

    def _call(self, *args: object, **kwargs: object) -> np.ndarray | list[np.ndarray]:
        if self._tier_up is not None:
            self._calls_before_tier_up -= 1
            if self._calls_before_tier_up <= 0:
                make, self._tier_up = self._tier_up, None
                make(self)  # later calls take the native entry
        if self._optimise is not None:
            return self._timed_quick_call(args, kwargs)
        return self._plain_call(args, kwargs)

    def _plain_call(
        self, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> np.ndarray | list[np.ndarray]:
        fast = self._fast
        if fast is not None and not kwargs:
            result = fast(args)
            if result is not SLOW:
                return result  # type: ignore[return-value]
        if self.profile is not None:  # a profiled function has no fast path: every call is timed here
            return self.profile.measure(self._general_call, args, kwargs)  # type: ignore[no-any-return]
        return self._general_call(args, kwargs)

    def _timed_quick_call(
        self, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> np.ndarray | list[np.ndarray]:
        """A call of quick code, counted and timed towards starting its optimisation."""
        assert self._optimise is not None
        start, calls, seconds, finish, big = self._optimise
        self._optimise = None  # (set again below while the calls have not paid for it)
        if sum(a.size if isinstance(a, np.ndarray) else 1 for a in (*args, *kwargs.values())) >= big:
            finish()
            return self._plain_call(args, kwargs)
        began = time.perf_counter()
        try:
            return self._plain_call(args, kwargs)
        finally:
            calls, seconds = calls - 1, seconds - (time.perf_counter() - began)
            if calls > 0 and seconds > 0:
                self._optimise = (start, calls, seconds, finish, big)
            else:
                start()

    def _general_call(
        self, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> np.ndarray | list[np.ndarray]:
        fast = self._fast
        if kwargs or len(args) != len(self._converters):
            args = self._signature.complete(args, kwargs)  # keywords and defaults
            if fast is not None:
                result = fast(args)
                if result is not SLOW:
                    return result  # type: ignore[return-value]
        arrays = [convert(a) for convert, a in zip(self._converters, args, strict=True)]
        if not self._shared:
            return self._run(arrays, [])
        for _, lock in self._locks:
            lock.acquire()
        try:
            return self._run(arrays, [b.value for b in self._shared])
        finally:
            for _, lock in reversed(self._locks):
                lock.release()

    def _run(self, arrays: list[np.ndarray], current: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
        """Check shapes, allocate, call; apply the updates only once the call succeeded."""
        shapes = [a.shape for a in arrays] + [c.shape for c in current]
        plan = self._plan
        data = (*arrays, *current) if plan.uses_values else None  # sizes that depend on values
        evaluated = plan.evaluate(shapes, data)
        if evaluated is None:  # a rule is broken: the full check says which
            plan.check(shapes, data)
            raise AssertionError(f"function '{self.name}': a shape check failed but none reported it")
        result_shapes, store_shapes = evaluated
        outputs = allocate_all(self, result_shapes, self._out_dtypes, "result")
        destinations = []
        for (buffer_index, in_place), shape in zip(self._stores, store_shapes, strict=True):
            old = current[buffer_index]
            if in_place and old.shape == shape and old.flags.c_contiguous and old.flags.writeable:
                destinations.append(old)
            else:
                destinations.append(self._allocate(shape, old.dtype, ("update", len(destinations))))
        everything = (*arrays, *outputs, *current, *destinations)
        status = NOT_PACKED
        if self._packed is not None:
            call, entry, dims_type = self._packed
            dims_array = dims_type()
            data = self._data_type()
            status = call(entry, everything, len(everything), data, dims_array, len(dims_array), NDARRAY)
            if status == RANKS_DIFFER:
                raise AssertionError(f"function '{self.name}': its arrays' ranks are not its slots'")
        if status == NOT_PACKED:  # an ndarray subclass among the arrays, or no packed call
            dims_array = self._dims_of(everything)
            status = self._native(self._data_type(*[a.ctypes.data for a in everything]), dims_array)
        if status >= FIRST_INDEX_STATUS:
            raise self._index_error(status - FIRST_INDEX_STATUS, dims_array)
        if status != 0:
            raise TcMemoryError(
                f"function '{self.name}' could not allocate a temporary buffer "
                f"(its size overflows 64 bits or memory is exhausted); no shared variable was changed"
            )
        for k, first_dim in self._trims:
            outputs[k] = outputs[k][: dims_array[first_dim]]
        if self._keep_updates:
            for (buffer_index, _), new in zip(self._stores, destinations, strict=True):
                self._shared[buffer_index].value = new
        return outputs[0] if self._single else outputs

    @staticmethod
    def _dims_of(arrays: Sequence[np.ndarray]) -> ctypes.Array[ctypes.c_int64]:
        """Every array's shape and byte strides, and two words for a bad index and its axis."""
        dims: list[int] = []
        for array in arrays:
            dims += array.shape
            dims += array.strides
        return (ctypes.c_int64 * (len(dims) + 2))(*dims, 0, 0)

    def _allocate(self, shape: tuple[int, ...], dtype: np.dtype, slot: tuple[str, int]) -> np.ndarray:
        """A buffer for a result or an update; one too large is a TcMemoryError naming the op
        that needs it, raised before any code ran, so no shared variable has changed."""
        return allocate(self, shape, dtype, slot)

    def _index_error(self, check: int, dims: ctypes.Array) -> TcIndexError:
        """The error of failed index check number `check`; nothing has been updated."""
        return index_error(self.name, index_checks(self._ir["tir-opt"]), check, dims)

    def _merge_keywords(self, args: tuple[object, ...], kwargs: dict[str, object]) -> tuple[object, ...]:
        """The arguments in input order, keywords placed and defaults filled in."""
        return self._signature.complete(args, kwargs)

    # -- inputs, copies and pickling (runtime/function_copy.py) ---------------------------

    def configure_input(
        self,
        position: int,
        name: str | None = None,
        aliases: Sequence[str | None] = (),
        default: object = MISSING,
        allow_downcast: bool | None = None,
        strict: bool = False,
    ) -> None:
        """Theano's In: input `position` is called `name` (or one of `aliases`) as a keyword,
        takes `default` when not given, and converts with its own allow_downcast and strict."""
        configure_input(self, position, name, aliases, default, allow_downcast, strict)

    def copy(
        self,
        share_memory: bool = False,
        swap: Mapping[object, object] | None = None,
        delete_updates: bool = False,
        name: str | None = None,
        profile: object = None,
    ) -> CompiledFunction:
        """Theano's `f.copy()`: the same compiled code, sharing the shared variables unless
        `swap` maps some to others (of the same type); without its updates if `delete_updates`.
        tc keeps no intermediate storage between calls, so `share_memory` changes nothing."""
        return copy_function(self, swap, delete_updates, name)

    def __copy__(self) -> CompiledFunction:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    def __deepcopy__(self, memo: dict[int, object]) -> CompiledFunction:
        """A function over deep copies of its shared buffers (through `memo`, so copying an
        object that holds the function and its shared variables keeps them together)."""
        return deep_copy_function(self, memo)

    def enable_pickling(self, rebuild: Callable[..., object], recipe: object) -> None:
        """Pickles as `rebuild(recipe, state)`: the facade recompiles (or reloads) the code."""
        self._rebuild = (rebuild, recipe)

    def __reduce__(self) -> tuple[object, ...]:
        return reduce_function(self)

    # -- looking inside ------------------------------------------------------------------

    def dump(self, stage: str = "tir-opt") -> str:
        """The text of one compilation stage: tir, tir-opt, llvm, llvm-opt or asm."""
        if stage not in self._stages:
            raise TcValueError(f"unknown stage '{stage}'; stages: {', '.join(self._stages)}")
        return self._stages[stage]

    @property
    def stages(self) -> list[str]:
        return list(self._stages)

    def ir_function(self, stage: str = "tir-opt") -> Function:
        """The IR function at `stage` ('tir' as built, 'tir-opt' as compiled)."""
        if stage not in self._ir:
            raise TcValueError(f"no IR for stage '{stage}'; IR stages: {', '.join(self._ir)}")
        return self._ir[stage]

    def __repr__(self) -> str:
        args = ", ".join(f"{s.name}: {s.type}" for s in self.inputs)
        return f"<tc function {self.name}({args})>"
