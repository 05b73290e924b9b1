"""One op's loops as a function of their own, called from the entry point.

An entry point is mostly bookkeeping that runs once per call (shapes, checks, allocation);
lower.py may ask LLVM not to optimise it (`optnone`), which takes most of LLVM's time off a
large function's compile, but then every loop left in it would run unoptimised too. So there
each op's deferred code (its loops, or its calls to kernels and the library) is emitted into
an internal function of its own, which LLVM optimises as any kernel:

- `outlined` runs the op's emitters with the builder positioned in a new function, then
  makes every value of the entry point that the emitted code uses (pointers, sizes, the
  `dims` array) an argument of the new function, and emits the call that passes them.
- The code may leave the new function only by returning: 0 when done, or the status of a
  failed index check (indexing.IndexFailure returns it there), which the call site forwards
  to the entry point's index-failure exit. A branch to a block of the entry point is a
  lowering that cannot be outlined: a compiler bug, reported as such.

`outlined_job` does the same for a loop spread over the cores: the code for a range of
work items becomes a job for tc_parallel_units, which receives the values it uses through
its argument array (each stored in a stack slot of the caller).

The new function's arguments are found after the code is emitted, by walking its
instructions (`used_values`, then `replace_values` in those that use another function's).
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir import TcCompilationError
from . import llvm_ir as ll
from .parallel import JOB_TYPE
from .target import host_of
from .types import I1, I8_PTR, I32


def outlined(builder: ll.IRBuilder, name: str, emit: Callable[[], None]) -> ll.Instruction:
    """Run `emit` (which emits through `builder`) into a new internal function `name` and
    call it from where `builder` stands; the call's i32 status (0: done) is returned."""
    host_block = builder.block
    host = host_block.parent
    module = host.module
    function = ll.Function(module, ll.FunctionType(I32, []), module.get_unique_name(name))
    function.linkage = "internal"
    builder.position_at_end(function.append_basic_block("entry"))
    emit()
    if not builder.block.is_terminated:
        builder.ret(I32(0))
    live_ins, users = _live_ins(function, name)
    _take_as_arguments(function, live_ins, users)
    builder.position_at_end(host_block)
    return builder.call(function, live_ins)


def outlined_job(
    builder: ll.IRBuilder,
    name: str,
    work: tuple[ll.Value, ll.Value],
    emit: Callable[[ll.Value, ll.Value], None],
) -> None:
    """Run `emit(begin, end)` (which emits, through `builder`, the code for the work items
    [begin, end)) into a job function `name` and call it over `work` = (items, threads)
    through tc_parallel_units, from where `builder` stands. The code may not fail."""
    host_block = builder.block
    host = host_block.parent
    module = host.module
    job = ll.Function(module, JOB_TYPE, module.get_unique_name(name))
    job.linkage = "internal"
    arguments, begin, end = job.args
    unpack, body = job.append_basic_block("unpack"), job.append_basic_block("body")
    builder.position_at_end(body)
    emit(begin, end)
    if not builder.block.is_terminated:
        builder.ret(ll.Constant(I1, 0))
    live_ins, users = _live_ins(job, name)
    inner = ll.IRBuilder(unpack)
    loaded = []
    for index, value in enumerate(live_ins):
        slot = inner.load(inner.gep(arguments, [I32(index)]))
        loaded.append(inner.load(inner.bitcast(slot, value.type.as_pointer())))
    inner.branch(body)
    replacement = {id(value): new for value, new in zip(live_ins, loaded, strict=True)}
    for instruction in users:
        instruction.replace_values(replacement)
    # The slots go at the top of the caller's entry block: a stack slot made inside a loop
    # would be made again on every trip.
    slots = ll.IRBuilder(host.entry_basic_block)
    slots.position_at_start(host.entry_basic_block)
    array = slots.alloca(I8_PTR, size=I32(max(len(live_ins), 1)))
    places = [slots.alloca(value.type) for value in live_ins]
    # (positioned only now: inserting the slots moved the instructions of the entry block,
    # which may be this one, under a builder positioned before)
    builder.position_at_end(host_block)
    for index, (value, slot) in enumerate(zip(live_ins, places, strict=True)):
        builder.store(value, slot)
        builder.store(builder.bitcast(slot, I8_PTR), builder.gep(array, [I32(index)]))
    host_of(module).parallel_for(builder, job, array, *work)


def can_fail(call: ll.CallInstr) -> bool:
    """Whether the outlined function called by `call` may return a failure status."""
    returns = (i for block in call.callee.blocks for i in block.instructions if isinstance(i, ll.Ret))
    return not all(_is_zero(r.return_value) for r in returns)


def _is_zero(value: ll.Value | None) -> bool:
    return getattr(value, "constant", None) == 0  # a constant 0 (only constants carry one)


def _live_ins(function: ll.Function, name: str) -> tuple[list[ll.Value], list[ll.Instruction]]:
    """The values of other functions that `function`'s instructions use, in first-use order,
    and the instructions that use them (a few of the function's: only they are rewritten)."""
    found: dict[int, ll.Value] = {}
    users = []
    for block in function.blocks:
        for instruction in block.instructions:
            uses_outside = False
            for value in instruction.used_values():
                if isinstance(value, ll.Instruction):
                    if value.parent.parent is function:
                        continue
                elif isinstance(value, ll.Argument):
                    if value.parent is function:
                        continue
                elif isinstance(value, ll.Block):
                    if value.parent is not function:
                        raise TcCompilationError(
                            f"internal error: the loops of {name} branch out of their function"
                        )
                    continue
                else:
                    continue  # constants, globals, functions, metadata
                found.setdefault(id(value), value)
                uses_outside = True
            if uses_outside:
                users.append(instruction)
    return list(found.values()), users


def _take_as_arguments(function: ll.Function, live_ins: list[ll.Value], users: list[ll.Instruction]) -> None:
    """Give `function` one argument per live-in value and make its `users` use them."""
    function_type = ll.FunctionType(I32, [value.type for value in live_ins])
    function.ftype = function_type  # as ll.Function's constructor sets them
    function.type = function_type.as_pointer()
    function.args = tuple(ll.Argument(function, value.type) for value in live_ins)
    replacement = {id(value): argument for value, argument in zip(live_ins, function.args, strict=True)}
    for instruction in users:
        instruction.replace_values(replacement)
