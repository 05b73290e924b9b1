"""plan-buffers: decide, in the IR, where results are written and which updates happen in place.

Runs last, on fused IR. It records its decisions as attributes, which `tc opt` shows and the
backends follow instead of deciding themselves:

- `into = ["result 0", "store @W", ""]` on an op, one entry per result: that result is
  computed straight into the function's result slot 0, or into the buffer a store of
  shared variable W writes, instead of a temporary copied there at the end ("" for a
  temporary). Only an op that writes fresh buffers (the FRESH trait: kernels, products,
  reductions, loops — never a view) can; a value returned or stored twice gets the first
  slot and is copied to the others.
- `in_place = true` on a `tx.store`: the update may be computed into the shared variable's
  own buffer (one pass over the data instead of a new buffer swapped in), when the runtime
  finds the shapes equal. Safe when a fused kernel is the only reader of the variable and the
  stored value is one of its results used by nothing else: every element is read and
  written at the same index, and nothing reads the old value afterwards. That kernel must
  also run after every op that can still fail on values (an index check, a loop's step), so
  that a failed call leaves the variable unchanged.

Loop and branch bodies are planned like functions: their results are their output slots.
Assumes: the function is fused (`fuse`), and no pass rewrites it afterwards. Guarantees:
every `tx.store` carries `in_place`, and every op of the FRESH trait whose result is
returned or stored carries `into`.
"""

from __future__ import annotations

from ..ir import Function, Operation, Value
from ..ir.core import CALLABLE_BODY, FRESH
from ..ir.ops.indexing import CHECKS_INDICES
from ..ir.ops.kernel import KernelElementwise
from ..ir.ops.state import Load, Store
from .manager import Pass, register


@register
class PlanBuffers(Pass):
    name = "plan-buffers"
    summary = "record where results are written (into) and which updates are in place (in_place)"

    def run_on_function(self, function: Function) -> None:
        ops = function.body.ops
        places: dict[Value, str] = {}
        for index, value in enumerate(function.return_op.operands):
            places.setdefault(value, f"result {index}")
        stores = [op for op in ops if isinstance(op, Store)]
        for store in stores:
            places.setdefault(store.operands[0], f"store @{store.symbol}")
        for op in ops:
            if op.has_trait(FRESH):
                into = tuple(places.get(r, "") for r in op.results)
                if any(into):
                    op.attributes["into"] = into
                else:
                    op.attributes.pop("into", None)
        allowed = in_place_stores(function)
        for index, store in enumerate(stores):
            store.attributes["in_place"] = index in allowed


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
        if type(kernel) is not KernelElementwise or len(value.uses) != 1:
            continue
        if order.get(kernel, -1) < last_failure:
            continue
        readers = {use.op for result in load.results for use in result.uses} if load else set()
        if readers <= {kernel} and value.type.shape == (
            load.results[0].type.shape if load else value.type.shape
        ):
            allowed.add(index)
    return allowed


def _can_fail(op: Operation) -> bool:
    """An op whose failure depends on values: an index check, or a loop or branch (any step of
    which may fail an index check or an allocation)."""
    return op.has_trait(CHECKS_INDICES) or op.has_trait(CALLABLE_BODY)
