"""What a shape plan knows while it walks a function, and the registry of per-op shape rules.

A shape rule is a small function `rule(op, state)` that records the shapes of
`op`'s results in `state` as terms, and the checks the op needs (constraints,
bounds, requirements). Rules are registered by op class with `@shape_rule`,
next to their code (`shape_rules.py`, `shape_value_rules.py`), or carried by
the op class itself as a method `shape_rule(self, state)`; `rule_for` finds an
op's rule through its class's MRO (a registered rule, then the class's own),
then by trait (elementwise ops broadcast, SAME_SHAPE ops keep operand 0's
shape) and last by type (an op whose results are all static needs no rule).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar, cast

from .core import Function, Operation, Value
from .errors import TcCompilationError
from .shape_checks import Bound, Constraint, Requirement
from .shape_terms import ArgDim, ArgValue, Term, is_int_scalar, is_int_vector
from .sizes import Pairs, TermSizes, broadcast
from .types import TensorType

SymbolicShape = tuple[Term, ...]


class ShapeState:
    """The terms known so far: each value's shape, the integer scalars and vectors whose values
    are known as terms, and the checks collected."""

    def __init__(self, function: Function, globals: Sequence[tuple[str, TensorType]] = ()) -> None:
        def symbolic(index: int, type: TensorType) -> SymbolicShape:
            return tuple(ArgDim(index, axis) if d is None else d for axis, d in enumerate(type.shape))

        args = function.args
        self.shapes: dict[Value, SymbolicShape] = {
            arg: symbolic(index, arg.type) for index, arg in enumerate(args)
        }
        self.global_shapes = {name: symbolic(len(args) + k, type) for k, (name, type) in enumerate(globals)}
        self.global_index = {name: len(args) + k for k, (name, _) in enumerate(globals)}
        # Integer vectors whose values are known as terms (shapes, and constants).
        self.values: dict[Value, SymbolicShape] = {}
        # Integer scalars whose values are known as terms (argument values, shape entries, arithmetic).
        self.scalars: dict[Value, Term] = {
            arg: ArgValue(index) for index, arg in enumerate(args) if is_int_scalar(arg.type)
        }
        # Integer vector arguments (and loaded globals), whose entries a size may read.
        self.vector_args: dict[Value, int] = {
            arg: index for index, arg in enumerate(args) if is_int_vector(arg.type)
        }
        # An integer vector argument of known length is a size too, entry by entry (a loop's
        # step reading the shape of a value from outside).
        for arg, index in self.vector_args.items():
            length = arg.type.shape[0]
            if length is not None:
                self.values[arg] = tuple(ArgValue(index, k) for k in range(length))
        self.constraints: list[Constraint] = []
        self.bounds: list[Bound] = []
        self.requirements: list[Requirement] = []
        self.store_shapes: list[SymbolicShape] = []

    def require(self, op: Operation, kind: str, *terms: Term | tuple[Term, ...]) -> None:
        """Record a value-level rule `op` needs (see shape_checks.REQUIREMENTS)."""
        self.requirements.append(Requirement(kind, terms, op.name, location(op)))

    def scalar(self, op: Operation, value: Value) -> Term:
        """The term an integer scalar operand stands for; refused when its value is not tracked."""
        term = self.scalars.get(value)
        if term is None:
            raise TcCompilationError(
                f"'{op.name}' at {location(op)}: a size, index or bound must be computed from integer "
                "scalar inputs, shared integer scalars, shapes and constants; "
                f"this one comes from '{value.owner.name if value.owner else 'an argument'}'"
            )
        return term

    def broadcast(
        self,
        op: Operation,
        operand_shapes: Sequence[SymbolicShape],
        static_shape: tuple[int | None, ...] | None = None,
    ) -> SymbolicShape:
        """The broadcast shape of the operands, constraining the sizes that must agree;
        `static_shape` is its static type (by default that of the op's first result)."""
        static_shape = op.results[0].type.shape if static_shape is None else static_shape
        refined = tuple(1 if d is None else d for d in static_shape)  # what a refining tx.cast learned
        return broadcast(PlanSizes(self, op), [*operand_shapes, refined])

    def agree(self, op: Operation, terms: list[Term]) -> Term:
        """Sizes that must all be equal: a known one is the representative, the others are
        checked against it."""
        terms.sort(key=lambda t: not isinstance(t, int))
        first = terms[0]
        for other in terms[1:]:
            if other != first:
                self.constraints.append(Constraint(first, other, op.name, location(op)))
        return first

    def broadcast_into(self, op: Operation, values: SymbolicShape, target: SymbolicShape) -> None:
        """`values` (right-aligned) must broadcast to `target`: sizes of 1 stretch, others match."""
        for v, t in zip(values, target[len(target) - len(values) :], strict=True):
            if v != 1 and v != t:
                self.constraints.append(Constraint(t, v, op.name, location(op)))

    def size_terms(self, op: Operation, size: Value) -> SymbolicShape:
        """The shape a size vector stands for, in terms of the arguments' shapes."""
        terms = self.values.get(size)
        if terms is None:
            raise TcCompilationError(
                f"'{op.name}' at {op.location}: a run-time size must be a shape (x.shape) or a constant"
            )
        return terms


class PlanSizes(TermSizes):
    """The shape plan's terms, for `op`: sizes that must agree are checked before the call."""

    def __init__(self, state: ShapeState, op: Operation) -> None:
        self.state, self.op = state, op

    def agree(self, sizes: Sequence[Term], pairs: Pairs | None = None) -> Term:
        if pairs is None:
            return self.state.agree(self.op, list(sizes))
        first, *others = sizes
        for other in others:
            if other != first:
                self.state.constraints.append(
                    Constraint(first, other, self.op.name, location(self.op), pairs)
                )
        return super().agree(sizes)


def location(op: Operation) -> str:
    """Where `op` came from, as error messages print it."""
    return str(op.location) if op.location else "?"


ShapeRule = Callable[[Operation, ShapeState], None]
# A rule written for some op classes (its first parameter typed as those classes).
R = TypeVar("R", bound=Callable[..., None])
# Op class -> its shape rule; filled by @shape_rule next to each rule.
SHAPE_RULES: dict[type[Operation], ShapeRule] = {}
# Rules for ops no class rule covers: by trait (elementwise), then all-static results.
FALLBACK_RULES: list[tuple[Callable[[Operation], bool], ShapeRule]] = []


def shape_rule(*classes: type[Operation]) -> Callable[[R], R]:
    """Register the decorated function as the shape rule of `classes` (and their subclasses);
    its first parameter may be typed as those classes, since `rule_for` passes only their instances."""

    def register(rule: R) -> R:
        for cls in classes:
            assert cls not in SHAPE_RULES, f"two shape rules for {cls.__name__}"
            SHAPE_RULES[cls] = cast(ShapeRule, rule)
        return rule

    return register


def rule_for(op: Operation) -> ShapeRule:
    """The shape rule of `op`: its class's (or a base class's), registered or carried by the
    class as its `shape_rule` method, else the first fallback that applies; an op with none is
    refused at compile time."""
    for cls in type(op).__mro__:
        rule = SHAPE_RULES.get(cls) or cls.__dict__.get("shape_rule")
        if rule is not None:
            return cast(ShapeRule, rule)
    for applies, rule in FALLBACK_RULES:
        if applies(op):
            return rule
    raise TcCompilationError(f"no shape rule for '{op.name}' at {op.location}")
