"""Copies of compiled functions: Theano's `f.copy(...)`, `copy.deepcopy(f)` and pickling.

A copy runs the same native code (nothing is compiled again) over its own list
of shared buffers: the same buffers (`f.copy()`), some swapped for others
(`swap=`), or deep copies (`copy.deepcopy`, through its memo, so an object
holding a function and its shared variables copies into one whose function
updates the copied variables). `delete_updates=True` computes the updates
into scratch buffers and drops them.

A pickled function holds its IR (as planned and as compiled), its shared
buffers with their values, its inputs' names and defaults and its options;
unpickling calls the rebuild function the facade attached
(`enable_pickling`), which reloads the object code from the compile cache
or compiles the IR again, so the function works in a new process.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..ir import TcTypeError, TcValueError
from .fastpath import scalar_fast_path
from .shared import SharedBuffer
from .signature import MISSING, convert_default, input_converter

if TYPE_CHECKING:
    from .function import CompiledFunction

IR_STAGES = ("tir", "tir-planned", "tir-opt")


def configure_input(
    function: CompiledFunction,
    position: int,
    name: str | None,
    aliases: Sequence[str | None],
    default: object,
    allow_downcast: bool | None,
    strict: bool,
) -> None:
    """See CompiledFunction.configure_input. Lists are changed in place: the native entry's
    fallback (a shallow copy made at compile time) shares them."""
    from .function import InputSpec

    spec = function.inputs[position]
    name = name or spec.name
    downcast = function._allow_input_downcast if allow_downcast is None else bool(allow_downcast)
    compiled_by = function._compiled_by
    convert = input_converter(name, spec.type, downcast, function._float_x, compiled_by, strict)
    if default is not MISSING:
        default = convert_default(name, default, convert, compiled_by)
    function._converters[position] = convert
    function.inputs[position] = InputSpec(name, spec.type)
    function._signature.rename(position, name, aliases)
    function._signature.defaults[position] = default
    function._input_options[position] = {
        "name": name,
        "aliases": tuple(aliases),
        "default": default,
        "allow_downcast": allow_downcast,
        "strict": strict,
    }


def clone_function(
    function: CompiledFunction,
    shared: Sequence[SharedBuffer] | None = None,
    keep_updates: bool | None = None,
    name: str | None = None,
) -> CompiledFunction:
    """A function running `function`'s code over `shared` (default: the same buffers)."""
    clone = copy.copy(function)
    buffers = list(function._shared if shared is None else shared)
    keep = function._keep_updates if keep_updates is None else keep_updates
    clone._shared = buffers
    clone._keep_updates = keep
    if not keep:  # never in place: the updates go to scratch buffers that are dropped
        clone._stores = [(index, False) for index, _ in function._stores]
    clone._locks = sorted({id(b.lock): b.lock for b in buffers}.items())
    if name is not None:
        clone.name = name
        clone._signature = copy.copy(function._signature)
        clone._signature.function = name
    if buffers and function._entry_recipe is not None:  # an entry is bound to its buffers and updates
        clone._entry = None
        clone.defer_native_entry(*function._entry_recipe)
    if function._fast is not None:
        clone._fast = scalar_fast_path(
            function._native,
            clone.name,
            [s.type for s in function.inputs],
            function.output_types,
            buffers,
            clone._stores,
            function._single,
            apply_updates=keep,
        )
    return clone


def copy_function(
    function: CompiledFunction, swap: Mapping[Any, Any] | None, delete_updates: bool, name: str | None
) -> CompiledFunction:
    """Theano's `f.copy(swap=..., delete_updates=..., name=...)`."""
    buffers = list(function._shared)
    if swap is not None:
        if not isinstance(swap, Mapping):
            raise TcTypeError(
                f"copy of function '{function.name}': swap must map shared variables to shared "
                f"variables, found {type(swap).__name__}"
            )
        for old, new in swap.items():
            _swap(function, buffers, old, new)
        if len({id(b) for b in buffers}) < len({id(b) for b in function._shared}):
            raise TcValueError(
                f"copy of function '{function.name}': swap makes two of its shared variables one"
            )
    keep = function._keep_updates and not delete_updates
    return clone_function(function, buffers, keep, name)


def _swap(function: CompiledFunction, buffers: list[SharedBuffer], old: Any, new: Any) -> None:
    where = f"copy of function '{function.name}': swap"
    old_buffer, new_buffer = getattr(old, "container", old), getattr(new, "container", new)
    for variable, buffer in ((old, old_buffer), (new, new_buffer)):
        if not isinstance(buffer, SharedBuffer):
            raise TcTypeError(f"{where}: expected shared variables, found {variable!r}")
    positions = [i for i, b in enumerate(function._shared) if b is old_buffer]
    if not positions:
        used = ", ".join(b.name for b in function._shared) or "none"
        raise TcValueError(f"{where}: the function does not use shared variable '{old}' (it uses: {used})")
    if (new_buffer.type.dtype, new_buffer.type.rank) != (old_buffer.type.dtype, old_buffer.type.rank):
        raise TcTypeError(
            f"{where}: shared variable '{old}' ({old_buffer.type}) can only be swapped for one of the "
            f"same dtype and rank, found '{new}' ({new_buffer.type})"
        )
    for position in positions:
        buffers[position] = new_buffer


def deep_copy_function(function: CompiledFunction, memo: dict[int, Any]) -> CompiledFunction:
    buffers = [copy.deepcopy(b, memo) for b in function._shared]
    return clone_function(function, buffers)


def reduce_function(function: CompiledFunction) -> tuple[Any, ...]:
    """`function` as (rebuild, (recipe, state)) for pickle."""
    if function._rebuild is None:
        raise TcValueError(
            f"function '{function.name}' cannot be pickled: it was not made by tc.function, "
            "tc.compile_file or tc.load, which record how to rebuild it"
        )
    rebuild, recipe = function._rebuild
    state = {
        "name": function.name,
        "stages": {k: function._stages[k] for k in IR_STAGES if k in function._stages},
        "shared": list(function._shared),
        "single": function._single,
        "allow_input_downcast": function._allow_input_downcast,
        "inputs": list(function._input_options),
        "keep_updates": function._keep_updates,
    }
    return (rebuild, (recipe, state))


def restore_function(function: CompiledFunction, state: Mapping[str, Any]) -> CompiledFunction:
    """A freshly rebuilt `function` given the pickled `state`'s names, defaults and options."""
    for position, options in enumerate(state["inputs"]):
        if options is not None:
            configure_input(function, position, **options)
    return clone_function(function, keep_updates=bool(state["keep_updates"]), name=state["name"])
