"""substitute-givens: carry out `tx.given %old, %new` requests (Theano's givens=).

Assumes: each given's operands have the same dtype and rank. Guarantees: every
use of `%old` outside the computation of `%new` itself now uses `%new`; the
`tx.given` ops are gone; result types are inferred again (a replacement may
make shapes more static); ops are in dependency order.
"""

from __future__ import annotations

from ..ir import ELEMENTWISE, Function, Operation, Value, broadcast_shapes
from .dataflow import order_by_dataflow
from .manager import Pass, register


def _backward_slice(value: Value) -> set[Operation]:
    """The ops `value` is computed from (including its own definition)."""
    found: set[Operation] = set()
    stack = [value.owner] if value.owner is not None else []
    while stack:
        op = stack.pop()
        if op in found:
            continue
        found.add(op)
        stack.extend(v.owner for v in op.operands if v.owner is not None)
    return found


def refresh_result_types(function: Function) -> None:
    """Recompute result types in program order after operands changed types."""
    for op in function.body.ops:
        try:
            types = type(op).infer_types([v.type for v in op.operands], op.attributes, op.regions)
        except NotImplementedError:
            if not (op.has_trait(ELEMENTWISE) and len(op.results) == 1):
                continue
            shape = broadcast_shapes(*(v.type.shape for v in op.operands))
            types = [op.results[0].type.with_shape(shape)]
        for result, new_type in zip(op.results, types, strict=True):
            result.type = new_type


@register
class SubstituteGivens(Pass):
    name = "substitute-givens"
    summary = "replace each tx.given's old value by its new one"

    def run_on_function(self, function: Function) -> None:
        givens = [op for op in function.body.ops if op.name == "tx.given"]
        if not givens:
            return
        for given in givens:
            old, new = given.operands
            keep = _backward_slice(new) | {given}
            for use in list(old.uses):
                if use.op not in keep:
                    use.op.set_operand(use.index, new)
            given.erase()
        order_by_dataflow(function.body, self.name)  # a cycle cannot happen, given `keep`
        refresh_result_types(function)
