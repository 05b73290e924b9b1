"""Shapes as expressions of the arguments' shapes, and the checks they imply.

The runtime needs, before calling native code, the shape of every result
(to allocate it) and the assurance that the arguments' unknown dimensions
agree wherever an op requires it (two `?` dimensions added together must be
equal). `ShapePlan` derives both from a function once, at compile time; the
call path then only reads integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .core import ELEMENTWISE, Function, Operation, Value
from .errors import TcCompilationError, TcShapeError
from .ops.indexing import Gather, ScatterAdd
from .ops.linalg import Dot
from .ops.random import RandomChoice, RandomOp
from .ops.reduce import NEEDS_ELEMENTS, Reduce
from .ops.views import DimShuffle
from .types import TensorType


@dataclass(frozen=True)
class ArgDim:
    """Axis `axis` of argument number `arg`, known only at call time."""

    arg: int
    axis: int


Term = int | ArgDim


@dataclass(frozen=True)
class Bound:
    """A dimension an op needs to be at least `minimum` (e.g. a non-empty population)."""

    term: Term
    minimum: int
    what: str
    op_name: str
    location: str


@dataclass(frozen=True)
class Constraint:
    """Two dimensions an op needs equal; `op` is kept for the error message."""

    left: Term
    right: Term
    op_name: str
    location: str


class ShapePlan:
    """The result shapes and run-time shape checks of one function."""

    def __init__(self, function: Function, globals: Sequence[tuple[str, TensorType]] = ()) -> None:
        """`globals` are the shared buffers the function reads, as extra arguments after its own."""
        self.arg_names = [a.name or f"#{i}" for i, a in enumerate(function.args)]
        self.arg_names += [f"@{name}" for name, _ in globals]

        def symbolic(index: int, type: TensorType) -> tuple[Term, ...]:
            return tuple(ArgDim(index, axis) if d is None else d for axis, d in enumerate(type.shape))

        shapes: dict[Value, tuple[Term, ...]] = {
            arg: symbolic(index, arg.type) for index, arg in enumerate(function.args)
        }
        global_shapes = {
            name: symbolic(len(function.args) + k, type) for k, (name, type) in enumerate(globals)
        }
        self.constraints: list[Constraint] = []
        self.bounds: list[Bound] = []
        self.store_shapes: list[tuple[Term, ...]] = []
        # Integer vectors whose values are known as terms (shapes, and constants below).
        values: dict[Value, tuple[Term, ...]] = {}
        for op in function.body.ops:
            if op.name == "return":
                continue
            if op.name == "tx.load":
                shapes[op.results[0]] = global_shapes[op.symbol]  # type: ignore[attr-defined]
            elif op.name == "tx.store":
                self.store_shapes.append(shapes[op.operands[0]])
            elif op.name == "tx.shape":
                shapes[op.results[0]] = (len(shapes[op.operands[0]]),)
                values[op.results[0]] = shapes[op.operands[0]]
            elif isinstance(op, DimShuffle):
                source = shapes[op.operands[0]]
                shapes[op.results[0]] = tuple(1 if p == -1 else source[p] for p in op.pattern)
            elif isinstance(op, Dot):
                a, b = shapes[op.operands[0]], shapes[op.operands[1]]
                if a[-1] != b[0]:
                    location = str(op.location) if op.location else "?"
                    self.constraints.append(Constraint(a[-1], b[0], op.name, location))
                shapes[op.results[0]] = a[:-1] + b[1:]
            elif isinstance(op, Reduce):
                source = shapes[op.operands[0]]
                keep = bool(op.attributes["keepdims"])
                shapes[op.results[0]] = tuple(
                    1 if a in op.axes else d for a, d in enumerate(source) if keep or a not in op.axes
                )
                if op.kind in NEEDS_ELEMENTS:
                    location = str(op.location) if op.location else "?"
                    for axis in op.axes:
                        self.bounds.append(
                            Bound(source[axis], 1, f"elements along axis {axis}", op.name, location)
                        )
            elif isinstance(op, (Gather, ScatterAdd)):
                shapes[op.results[0]] = self._indexing_shape(op, shapes)
            elif isinstance(op, RandomOp):
                # The generated code reads the stream's two words: a state a user resized is refused.
                location = str(op.location) if op.location else "?"
                (words,) = shapes[op.operands[0]]
                self.bounds.append(Bound(words, 2, "words of stream state", op.name, location))
                if isinstance(op, RandomChoice):
                    self._choice_checks(op, shapes)
                if op.size_operand is not None:
                    shapes[op.results[0]] = self._size_terms(op, op.size_operand, values)
                else:
                    shapes[op.results[0]] = tuple(d for d in op.results[0].type.shape if d is not None)
            elif op.has_trait(ELEMENTWISE):
                shape = self._broadcast(op, [shapes[v] for v in op.operands])
                shapes.update((r, shape) for r in op.results)
            elif all(r.type.is_static for r in op.results):
                shapes.update((r, tuple(d for d in r.type.shape if d is not None)) for r in op.results)
                if op.name == "tx.constant" and op.results[0].type.rank == 1:
                    values[op.results[0]] = tuple(int(v) for v in op.value)  # type: ignore[attr-defined]
            else:
                raise TcCompilationError(f"no shape rule for '{op.name}' at {op.location}")
        self.result_shapes = [shapes[v] for v in function.return_op.operands]

    def _indexing_shape(
        self, op: Gather | ScatterAdd, shapes: dict[Value, tuple[Term, ...]]
    ) -> tuple[Term, ...]:
        """Index arrays broadcast together; scatter-add's updates have the gathered shape."""
        location = str(op.location) if op.location else "?"
        indices = [shapes[v] for v in op.indices]
        rank = max(len(s) for s in indices)
        gathered: list[Term] = []
        for axis in range(rank):
            terms = [s[axis - rank + len(s)] for s in indices if axis - rank + len(s) >= 0]
            terms = sorted((t for t in terms if t != 1), key=lambda t: not isinstance(t, int))
            gathered.append(terms[0] if terms else 1)
            self.constraints += [
                Constraint(terms[0], t, op.name, location) for t in terms[1:] if t != terms[0]
            ]
        source = shapes[op.operands[0]]
        gathered += source[len(indices) :]
        if isinstance(op, Gather):
            return tuple(gathered)
        updates = shapes[op.operands[1]]
        pairs = zip(gathered, updates, strict=True)
        self.constraints += [Constraint(g, u, op.name, location) for g, u in pairs if g != u]
        return source

    @staticmethod
    def _size_terms(op: Operation, size: Value, values: dict[Value, tuple[Term, ...]]) -> tuple[Term, ...]:
        """The shape a size vector stands for, in terms of the arguments' shapes."""
        terms = values.get(size)
        if terms is None:
            raise TcCompilationError(
                f"'{op.name}' at {op.location}: a run-time size must be a shape (x.shape) or a constant"
            )
        return terms

    def _broadcast(self, op: Operation, operand_shapes: Sequence[tuple[Term, ...]]) -> tuple[Term, ...]:
        rank = len(op.results[0].type.shape)
        location = str(op.location) if op.location else "?"
        result: list[Term] = []
        for axis in range(rank):
            terms = []
            for shape in operand_shapes:
                local = axis - (rank - len(shape))
                if local >= 0 and shape[local] != 1:
                    terms.append(shape[local])
            if not terms:
                result.append(1)
                continue
            # Prefer a known size as the representative; check the others against it.
            terms.sort(key=lambda t: not isinstance(t, int))
            first = terms[0]
            for other in terms[1:]:
                if other != first:
                    self.constraints.append(Constraint(first, other, op.name, location))
            result.append(first)
        return tuple(result)

    def _choice_checks(self, op: RandomChoice, shapes: dict[Value, tuple[Term, ...]]) -> None:
        """The native draw reads values[j] for j < n: n must cover the draw, weights must match."""
        location = str(op.location) if op.location else "?"
        (population,) = shapes[op.values]
        if op.count:
            needed = 1 if op.attributes["replace"] else op.count
            self.bounds.append(Bound(population, needed, "values to choose from", op.name, location))
        if op.weights is not None:
            (weights,) = shapes[op.weights]
            if weights != population:
                self.constraints.append(Constraint(population, weights, op.name, location))

    def check(self, shapes: Sequence[tuple[int, ...]]) -> None:
        """Raise TcShapeError if the argument shapes break a constraint."""
        for b in self.bounds:
            found = self._value(b.term, shapes)
            if found < b.minimum:
                raise TcShapeError(
                    f"{b.op_name} at {b.location} needs at least {b.minimum} {b.what}, found {found}"
                )
        for c in self.constraints:
            left, right = self._value(c.left, shapes), self._value(c.right, shapes)
            if left != right:
                raise TcShapeError(
                    f"shapes do not broadcast in {c.op_name} at {c.location}: "
                    f"{self._describe(c.left, shapes)} but {self._describe(c.right, shapes)}"
                )

    def result_shape(self, index: int, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        return tuple(self._value(t, shapes) for t in self.result_shapes[index])

    def store_shape(self, index: int, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        return tuple(self._value(t, shapes) for t in self.store_shapes[index])

    @staticmethod
    def _value(term: Term, shapes: Sequence[tuple[int, ...]]) -> int:
        return term if isinstance(term, int) else shapes[term.arg][term.axis]

    def _describe(self, term: Term, shapes: Sequence[tuple[int, ...]]) -> str:
        if isinstance(term, int):
            return f"a dimension is fixed at {term}"
        name = self.arg_names[term.arg]
        kind = "shared variable" if name.startswith("@") else "argument"
        return f"{kind} '{name.lstrip('@')}' has size {shapes[term.arg][term.axis]} on axis {term.axis}"
