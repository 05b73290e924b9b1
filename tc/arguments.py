"""What `tc.function` takes besides its inputs, checked: the outputs, `updates=` and `givens=`
pairs, and Theano's default updates (random streams advancing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tc.frontend.graph import Variable, as_tensor_variable
from tc.frontend.shared import SharedVariable, shared_roots
from tc.ir import TcTypeError, TcValueError

Pairs = Mapping[Variable, object] | Sequence[tuple[Variable, object]] | None


def pairs(given: Pairs, what: str) -> list[tuple[Variable, Variable]]:
    """`updates=` or `givens=` as a list of (variable, expression) pairs."""
    if given is None:
        return []
    items = list(given.items()) if isinstance(given, Mapping) else list(given)
    result = []
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TcTypeError(f"{what} must be (variable, expression) pairs or a dict, found {item!r}")
        result.append((item[0], as_tensor_variable(item[1])))
    return result


def check_outputs(outputs: list[object]) -> list[Variable]:
    """Outputs as Variables: numbers and arrays become constants; a bool or None is a mistake."""
    checked = []
    for index, output in enumerate(outputs):
        if isinstance(output, bool):
            raise TcTypeError(
                f"output #{index} is the Python bool {output}, not a tensor: `==` and `!=` on tc "
                "variables are Python's identity test (as in Theano); use T.eq(a, b) or T.neq(a, b) "
                "for elementwise comparison"
            )
        if output is None:
            raise TcTypeError(f"output #{index} is None, not a tensor (a builder that returned nothing?)")
        checked.append(as_tensor_variable(output))
    return checked


def check_updates(pairs: list[tuple[Variable, Variable]]) -> list[tuple[SharedVariable, Variable]]:
    """Each update a shared variable's, once, keeping its dtype and rank."""
    seen: set[Variable] = set()
    for variable, expr in pairs:
        if not isinstance(variable, SharedVariable):
            raise TcTypeError(
                f"updates: {variable} is not a shared variable; only shared variables can be updated"
            )
        if variable in seen:
            raise TcValueError(f"updates: shared variable '{variable}' is updated twice")
        seen.add(variable)
        if expr.type.dtype != variable.type.dtype or expr.type.rank != variable.type.rank:
            raise TcTypeError(
                f"updates: the update of '{variable}' ({expr.type}) must keep its type {variable.type}: "
                "same dtype and rank (cast the expression)"
            )
    return pairs  # type: ignore[return-value]


def default_updates(
    roots: Sequence[Variable],
    explicit: Sequence[tuple[SharedVariable, Variable]],
    no_default_updates: bool | Sequence[Variable],
) -> list[tuple[SharedVariable, Variable]]:
    """Theano's default updates (random streams advancing) of the shared variables read."""
    if no_default_updates is True:
        return []
    skip = {id(v) for v, _ in explicit} | {id(v) for v in (no_default_updates or [])}
    return [
        (variable, variable.default_update)
        for variable in shared_roots(roots)
        if variable.default_update is not None and id(variable) not in skip
    ]


def check_givens(pairs: list[tuple[Variable, Variable]]) -> list[tuple[Variable, Variable]]:
    """Each replacement of the replaced variable's dtype and rank."""
    for old, new in pairs:
        if not isinstance(old, Variable):
            raise TcTypeError(f"givens: {old!r} is not a symbolic variable")
        if new.type.dtype != old.type.dtype or new.type.rank != old.type.rank:
            raise TcTypeError(
                f"givens: '{old}' of type {old.type} cannot be replaced by an expression of type "
                f"{new.type} (same dtype and rank needed)"
            )
    return pairs
