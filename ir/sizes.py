"""The size algebra: the arithmetic of a shape rule written once, evaluated three ways.

A rule that computes sizes (a convolution's or a pooling's output length) is a function of
a `Sizes` evaluator and the sizes it combines, written with the evaluator's operations
(`add`, `sub`, `mul`, `floordiv`, `maximum`: the EXPRESSIONS kinds of shape_terms.py, with
Python's floor division). The same function then gives

- static sizes (`STATIC`): ints, or None where a size is not known before a call; the type
  rules (and so the verifier) and the numpy references read these;
- terms (`TERMS`): the shape plan's expressions of the arguments (`expr`, which folds
  known ints), compiled into the Python plan that checks a call's shapes;
- LLVM values (codegen_llvm/terms.py's `LLVMSizes`): the sizes computed by generated code,
  which lays out its loops and buffers with them.

Plain ints may be mixed in anywhere (a stride, a window size): each evaluator lifts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from .shape_terms import EXPRESSIONS, Term, expr

S = TypeVar("S")
# The axes of a product's left and right operand that must agree, and what the product does
# with them ("contracts", "pairs the batch"), for the error that names them.
Pairs = tuple[int, int, str]


class Sizes(Generic[S]):
    """One way of evaluating sizes; subclasses say how to lift an int and apply an operation."""

    def lift(self, value: int | S) -> S:
        raise NotImplementedError

    def apply(self, kind: str, *args: S) -> S:
        """The EXPRESSIONS operation `kind` of `args`."""
        raise NotImplementedError

    def _op(self, kind: str, *args: int | S) -> S:
        return self.apply(kind, *(self.lift(a) for a in args))

    def add(self, a: int | S, b: int | S) -> S:
        return self._op("add", a, b)

    def sub(self, a: int | S, b: int | S) -> S:
        return self._op("sub", a, b)

    def mul(self, a: int | S, b: int | S) -> S:
        return self._op("mul", a, b)

    def floordiv(self, a: int | S, b: int | S) -> S:
        """Python's a // b (towards minus infinity)."""
        return self._op("floordiv", a, b)

    def maximum(self, a: int | S, b: int | S) -> S:
        return self._op("max", a, b)

    def agree(self, sizes: Sequence[int | S], pairs: Pairs | None = None) -> int | S:
        """Sizes that must be equal (broadcast axes; with `pairs`, the axes of a product's left
        and right operand it pairs, and how): their representative, a known int if there is
        one. The shape plan also records the checks; a static evaluation refuses known ints
        that differ."""
        return next((s for s in sizes if isinstance(s, int)), sizes[0])


class StaticSizes(Sizes[int | None]):
    """Sizes known before a call: ints; None (unknown) wherever an operand is unknown."""

    def lift(self, value: int | None) -> int | None:
        return value

    def apply(self, kind: str, *args: int | None) -> int | None:
        if any(a is None for a in args):
            return None
        return int(EXPRESSIONS[kind](*args))

    def agree(self, sizes: Sequence[int | None], pairs: Pairs | None = None) -> int | None:
        known = {s for s in sizes if s is not None}
        if len(known) > 1:
            raise SizeMismatch(sorted(known), pairs)
        return known.pop() if known else None


class TermSizes(Sizes[Term]):
    """Sizes as the shape plan's terms of the arguments (known ints fold)."""

    def lift(self, value: Term) -> Term:
        return value

    def apply(self, kind: str, *args: Term) -> Term:
        return expr(kind, *args)


class SizeMismatch(Exception):
    """Known sizes that must agree and do not (the type rule says which op and operands)."""

    def __init__(self, sizes: list[int], pairs: Pairs | None = None) -> None:
        super().__init__(f"sizes {' and '.join(map(str, sizes))} differ")
        self.sizes, self.pairs = sizes, pairs
        self.axis: int | None = None  # counted from the end, where broadcasting found it


def broadcast(sizes: Sizes[S], shapes: Sequence[Sequence[int | S]]) -> tuple[int | S, ...]:
    """numpy broadcasting of `shapes` (aligned to the right) in any evaluator's sizes: per
    axis, the sizes that are not a static 1 must agree (`Sizes.agree`; a `?` never
    stretches), and an axis where all are 1 is 1. The type rules' (`STATIC`), the shape
    plan's (`shape_state.PlanSizes`, recording the checks) and codegen's (`LLVMSizes`) broadcasting."""
    rank = max((len(s) for s in shapes), default=0)
    result: list[int | S] = []
    for axis in range(rank):
        dims = [s[len(s) - rank + axis] for s in shapes if len(s) - rank + axis >= 0]
        stretched = [d for d in dims if not (isinstance(d, int) and d == 1)]
        try:
            result.append(sizes.agree(stretched) if stretched else 1)
        except SizeMismatch as mismatch:
            mismatch.axis = axis - rank
            raise
    return tuple(result)


STATIC = StaticSizes()
TERMS = TermSizes()

__all__ = ["STATIC", "TERMS", "SizeMismatch", "Sizes", "StaticSizes", "TermSizes", "broadcast"]
