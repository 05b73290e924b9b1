"""plan-buffers: decide, in the IR, where results are written and which updates happen in place.

Runs last, on fused IR. It records its decisions as attributes, which `tc opt` shows and the
backends follow instead of deciding themselves:

- `into = ["result 0", "store @W", ""]` on an op, one entry per result: that result is
  computed straight into the function's result slot 0, or into the buffer a store of
  shared variable W writes, instead of a temporary copied there at the end ("" for a
  temporary). Only an op that writes fresh buffers (the FRESH trait: kernels, products,
  reductions, loops — never a view) can; a value returned or stored twice gets the first
  slot and is copied to the others.
- `buffer = [0, -1]` on an op, one entry per result: the temporary result lives in the
  function's temporary buffer 0, which it shares with every other temporary of number 0;
  their lifetimes (from the op that writes one to the last op that reads it or a view of it)
  do not overlap, so the buffer is reused instead of a new one allocated per value (-1: not
  a temporary, or one with a buffer of its own). Lifetimes are intervals of the op order,
  which is the order the kernels run in, and their overlaps an interval graph: coloring it
  greedily in the order of first writes is optimal. Scalars and integer vectors keep their
  own buffers: sizes are read from them while buffers are laid out, before any kernel runs.
- `in_place = true` on a `tx.store`: the update may be computed into the shared variable's
  own buffer (one pass over the data instead of a new buffer swapped in), when the runtime
  finds the shapes equal. Safe when a fused kernel is the last reader of the variable (and of
  every view of it), reads it only directly, and the stored value is one of its results used
  by nothing else: every element is read and written at the same index, and nothing reads
  the old value afterwards (earlier readers, such as a forward pass's product, are done by
  then: ops run in order). A tx.gemm (fuse-gemm) may too, reading the old value as its C
  only (each element of C is read only by the step that writes it, after the product is
  summed), never as a factor of the product. That kernel must
  also run after every op that can still fail on values (an index check, a loop's step), so
  that a failed call leaves the variable unchanged.

Loop and branch bodies are planned like functions: their results are their output slots.
Assumes: the function is fused (`fuse`), and no pass rewrites it afterwards. Guarantees:
every `tx.store` carries `in_place`, every op of the FRESH trait whose result is returned or
stored carries `into`, and two temporaries with one buffer number are never both alive.
"""

from __future__ import annotations

from ..ir import Function, Operation, Value
from ..ir.core import CALLABLE_BODY, FRESH
from ..ir.ops.builtin import Return, Shape, Size
from ..ir.ops.indexing import CHECKS_INDICES
from ..ir.ops.kernel import KernelElementwise
from ..ir.ops.linalg import Gemm
from ..ir.ops.state import Load, Store
from .manager import Pass, register


@register
class PlanBuffers(Pass):
    name = "plan-buffers"
    summary = (
        "record where results are written (into), which temporaries share a buffer (buffer) "
        "and which updates are in place (in_place)"
    )

    def run_on_function(self, function: Function) -> None:
        ops = function.body.ops
        places: dict[Value, str] = {}
        for index, value in enumerate(function.return_op.operands):
            places.setdefault(value, f"result {index}")
        stores = [op for op in ops if isinstance(op, Store)]
        for store in stores:
            places.setdefault(store.operands[0], f"store @{store.symbol}")
        buffers = temporary_buffers(function, set(places))
        for op in ops:
            if op.has_trait(FRESH):
                into = tuple(places.get(r, "") for r in op.results)
                _set_or_drop(op, "into", into, any(into))
                numbers = tuple(buffers.get(r, -1) for r in op.results)
                _set_or_drop(op, "buffer", numbers, any(n >= 0 for n in numbers))
        allowed = in_place_stores(function)
        for index, store in enumerate(stores):
            store.attributes["in_place"] = index in allowed


def _set_or_drop(op: Operation, name: str, value: tuple, wanted: bool) -> None:
    if wanted:
        op.attributes[name] = value
    else:
        op.attributes.pop(name, None)


def temporary_buffers(function: Function, placed: set[Value]) -> dict[Value, int]:
    """Each temporary that may share a buffer, with its buffer's number (see the module's
    docstring)."""
    return number_intervals(*lifetimes(function, placed))


def number_intervals(born: dict[Value, int], last: dict[Value, int]) -> dict[Value, int]:
    """Numbers for the intervals [born, last] such that overlapping intervals differ. They
    form an interval graph, so coloring it greedily in the order of first writes is optimal;
    done as a linear scan (register allocation's): a value takes the lowest number whose
    latest holder is dead by the time it is written. No graph is built."""
    held_until: list[int] = []  # per number, the last read of its latest holder
    numbers: dict[Value, int] = {}
    for value in sorted(born, key=born.__getitem__):
        number = next((n for n, end in enumerate(held_until) if end < born[value]), len(held_until))
        if number == len(held_until):
            held_until.append(last[value])
        else:
            held_until[number] = last[value]
        numbers[value] = number
    return numbers


def lifetimes(function: Function, placed: set[Value]) -> tuple[dict[Value, int], dict[Value, int]]:
    """(where each poolable temporary is written, the last op position that reads it): a
    result read through views (any op that is not FRESH may return a view of its operands) is
    alive while they are; returned and stored values are read by the copies at the end."""
    ops = function.body.ops
    roots: dict[Value, frozenset[Value]] = {}
    born: dict[Value, int] = {}
    last: dict[Value, int] = {}
    for position, op in enumerate(ops):
        for operand in op.operands:
            for root in roots.get(operand, ()):
                last[root] = position
        fresh = op.has_trait(FRESH)
        for result in op.results:
            if fresh and result not in placed and _poolable(result):
                roots[result] = frozenset((result,))
                born[result] = last[result] = position
            elif not fresh:
                roots[result] = frozenset().union(*(roots.get(v, frozenset()) for v in op.operands))
    read_at_end = [*function.return_op.operands]
    read_at_end += [op.operands[0] for op in ops if isinstance(op, Store)]
    for value in read_at_end:
        for root in roots.get(value, ()):
            last[root] = len(ops)
    return born, last


def _poolable(value: Value) -> bool:
    """Not a scalar or integer vector: the backend computes those while it lays buffers out
    (sizes are read from them), before any kernel runs, so they cannot share."""
    shape = value.type.shape
    return len(shape) >= 1 and not (len(shape) == 1 and value.type.dtype.is_integer)


def in_place_stores(function: Function) -> set[int]:
    """The stores (by index among the function's stores) that may write the global's own buffer."""
    ops = function.body.ops
    loads = {op.symbol: op for op in ops if isinstance(op, Load)}
    stores = [op for op in ops if isinstance(op, Store)]
    order = {op: position for position, op in enumerate(ops)}
    last_failure = max((order[op] for op in ops if _can_fail(op)), default=-1)
    allowed: set[int] = set()
    for index, store in enumerate(stores):
        value = store.operands[0]
        kernel = value.owner
        load = loads.get(store.symbol)
        if type(kernel) not in (KernelElementwise, Gemm) or len(value.uses) != 1:
            continue
        if order.get(kernel, -1) < last_failure:
            continue
        if load is None or (
            _read_only_before(ops, load.results[0], kernel) and value.type.shape == load.results[0].type.shape
        ):
            allowed.add(index)
    return allowed


def _read_only_before(ops: list[Operation], old: Value, kernel: Operation) -> bool:
    """Whether every read of `old` (a global's value) or of a view of it comes from an op that
    runs before `kernel`, except `kernel`'s own reads of `old` itself (at the index it writes).
    Returning or storing a view of it reads it at the end; shapes read no data."""
    aliases = {old}
    writes_at = ops.index(kernel)
    for position, op in enumerate(ops):
        if type(op) in (Shape, Size):
            continue
        read = [v for v in op.operands if v in aliases]
        if not read:
            continue
        if op is kernel:
            if any(v is not old for v in read):
                return False  # a view of the old value read at other indices than it writes
            if isinstance(op, Gemm) and old in op.operands[1:]:
                return False  # a factor of the product: read at other indices than it writes
        elif isinstance(op, (Store, Return)) or position >= writes_at:
            return False
        if not op.has_trait(FRESH):
            aliases.update(op.results)  # it may be a view of the old value
    return True


def _can_fail(op: Operation) -> bool:
    """An op whose failure depends on values: an index check, or a loop or branch (any step of
    which may fail an index check or an allocation)."""
    return op.has_trait(CHECKS_INDICES) or op.has_trait(CALLABLE_BODY)
