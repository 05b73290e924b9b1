"""SSA values, operations, blocks, functions and modules.

An Operation subclass is the single record of one op: its name, traits,
type rule, verifier and numpy reference all live on the class. Defining the
class registers it, so the parser, the interpreter and the passes find it by
name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np

from .attributes import Attr, Attribute
from .errors import TcTypeError, TcVerificationError
from .types import TensorType

if TYPE_CHECKING:
    from .builder import Builder

# Traits an op class can carry; passes key their rewrites off these.
PURE = "pure"  # no side effects: may be folded, CSE'd, deleted when unused
ELEMENTWISE = "elementwise"  # result[i] depends only on operand[i] (after broadcasting)
COMMUTATIVE = "commutative"
# each result has the shape of operand 0 (a scan along an axis, a sort): the shape plan needs
# no rule for such an op (ir/shape_rules.py)
SAME_SHAPE = "same_shape"
TERMINATOR = "terminator"
# The op's regions are function bodies (a block ending in `return`, isolated from above):
# passes run on them as on functions, and backends lower them as functions (tx.scan).
CALLABLE_BODY = "callable_body"
# The op writes its results into new C-contiguous buffers, never views of its operands, so a
# result may be computed straight into a caller's output slot (the plan-buffers pass).
FRESH = "fresh"

OP_REGISTRY: dict[str, type[Operation]] = {}


@dataclass(frozen=True)
class Arity:
    """How many operands an op takes: from `low` to `high` (None: no upper bound)."""

    low: int
    high: int | None

    def accepts(self, count: int) -> bool:
        return self.low <= count and (self.high is None or count <= self.high)

    def __str__(self) -> str:
        if self.high == self.low:
            return str(self.low)
        if self.high is None:
            return f"at least {self.low}"
        return f"{self.low} to {self.high}"


def exactly(count: int) -> Arity:
    return Arity(count, count)


def at_least(count: int) -> Arity:
    return Arity(count, None)


def between(low: int, high: int) -> Arity:
    return Arity(low, high)


@dataclass(frozen=True)
class Location:
    """Where an op came from: a .tx position or the Python line that built it."""

    file: str
    line: int
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class TextPosition(Location):
    """Where an op stands in the IR text it was parsed from (it had no `loc(...)`).

    Errors show it like any location; the printer leaves it out, since the
    text it points into is the text being printed.
    """


class Value:
    """An SSA value: defined once, knows its uses."""

    def __init__(self, type: TensorType, name: str | None = None) -> None:
        self.type = type
        self.name = name  # a printing hint, never semantics
        self.uses = UseList()

    @property
    def owner(self) -> Operation | None:
        return None

    def replace_all_uses_with(self, other: Value) -> None:
        for use in list(self.uses):
            use.op.set_operand(use.index, other)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name or ''}: {self.type}>"


class OpResult(Value):
    def __init__(self, type: TensorType, op: Operation, index: int) -> None:
        # Value.__init__'s fields set here: every op's results are made through this.
        self.type, self.name, self.uses = type, None, UseList()
        self.op = op
        self.index = index

    @property
    def owner(self) -> Operation:
        return self.op


class BlockArgument(Value):
    def __init__(self, type: TensorType, block: Block, index: int, name: str | None = None) -> None:
        super().__init__(type, name)
        self.block = block
        self.index = index


class Use(NamedTuple):
    """Operand `index` of `op`. A named tuple, not a frozen dataclass: made, hashed and
    compared for every operand of every op built (3x faster), and cheaper to define."""

    op: Operation
    index: int


class UseList:
    """A value's uses in the order they were made, removable in constant time.

    A list would do, but a constant shared by thousands of ops would then make
    each rewrite of one of them scan all the others.
    """

    __slots__ = ("_uses",)

    def __init__(self) -> None:
        self._uses: dict[Use, None] = {}

    def append(self, use: Use) -> None:
        self._uses[use] = None

    def remove(self, use: Use) -> None:
        del self._uses[use]

    def __iter__(self) -> Iterator[Use]:
        return iter(self._uses)

    def __len__(self) -> int:
        return len(self._uses)

    def __repr__(self) -> str:
        return f"UseList({list(self._uses)})"


class Operation:
    """One op instance. Subclasses set `name` and `traits` and override the hooks.

    Attributes are declared on the class body with `ir.attributes.attr` (`axes =
    attr(tuple, convert=int_tuple)`), which gives the typed accessor `op.axes`;
    the operand count with `arity` (an int, `exactly(n)`, `at_least(n)` or
    `between(lo, hi)`; None for no check), checked by `create` and the verifier.

    An op may carry its shape rule as a method `shape_rule(self, state)` (see
    ir/shape_state.py), or the trait SAME_SHAPE, instead of a rule in ir/shape_rules.py.
    """

    name: ClassVar[str] = ""
    traits: ClassVar[frozenset[str]] = frozenset()
    # Attributes every instance must carry, with the Python types they take: collected from
    # the `attr` descriptors of the class and its bases (`attribute_descriptors`, by key).
    attribute_types: ClassVar[dict[str, type | tuple[type, ...]]] = {}
    attribute_descriptors: ClassVar[dict[str, Attr[Any]]] = {}
    attribute_defaults: ClassVar[dict[str, Attribute]] = {}
    arity: ClassVar[int | Arity | None] = None
    num_regions: ClassVar[int] = 0
    # An attribute printed right after the op name (`tx.load @W`), not in the {dict}.
    inline_symbol: ClassVar[str | None] = None
    # `T.<frontend_name>` and the .tx builtin of that name, generated from the class: a function
    # of `arity` tensors and of the declared attributes as keywords (frontend/generated.py;
    # elementwise ops, which promote, in frontend/elemwise.py). None: no generated builder.
    frontend_name: ClassVar[str | None] = None
    # Also `T.<frontend_namespace>.<frontend_name>` (Theano's `T.extra_ops.cumsum`).
    frontend_namespace: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        descriptors: dict[str, Attr[Any]] = {}
        types: dict[str, type | tuple[type, ...]] = {}
        for base in reversed(cls.__mro__[1:]):
            descriptors.update(getattr(base, "attribute_descriptors", {}))
            types.update(getattr(base, "attribute_types", {}))
        descriptors.update({d.key: d for d in cls.__dict__.values() if isinstance(d, Attr)})
        cls.attribute_descriptors = descriptors
        # An `attribute_types` written out in the class body (without descriptors) still counts.
        types.update(cls.__dict__.get("attribute_types", {}))
        cls.attribute_types = {**types, **{key: d.kind for key, d in descriptors.items()}}
        cls.attribute_defaults = {key: d.default for key, d in descriptors.items() if d.has_default}
        if cls.__dict__.get("name"):
            if cls.name in OP_REGISTRY:
                raise RuntimeError(f"op {cls.name} defined twice")
            OP_REGISTRY[cls.name] = cls

    def __init__(
        self,
        operands: Sequence[Value],
        result_types: Sequence[TensorType],
        attributes: dict[str, Attribute] | None = None,
        regions: Sequence[Region] = (),
        location: Location | None = None,
    ) -> None:
        self.operands: list[Value] = list(operands)
        for index, value in enumerate(self.operands):  # (_append_operand, inlined: every op is made here)
            value.uses._uses[Use(self, index)] = None
        self.results = [OpResult(t, self, i) for i, t in enumerate(result_types)]
        self.attributes: dict[str, Attribute] = {**self.attribute_defaults, **(attributes or {})}
        self.regions = list(regions)
        for region in self.regions:
            region.parent = self
        self.location = location
        self.parent: Block | None = None

    # -- construction -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        operands: Sequence[Value],
        attributes: dict[str, Attribute] | None = None,
        regions: Sequence[Region] = (),
        location: Location | None = None,
    ) -> Operation:
        """Build the op with result types given by its type rule."""
        cls.check_arity(len(operands))
        attrs = {**cls.attribute_defaults, **(attributes or {})}
        types = cls.infer_types([v.type for v in operands], attrs, regions)
        return cls(operands, types, attrs, regions, location)

    @classmethod
    def check_arity(cls, count: int) -> None:
        """Raise TcTypeError unless the op takes `count` operands (its `arity`)."""
        arity = exactly(cls.arity) if isinstance(cls.arity, int) else cls.arity
        if arity is not None and not arity.accepts(count):
            raise TcTypeError(f"{cls.name} takes {arity} operand(s), found {count}")

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        """The type rule; raise TcTypeError/TcShapeError for operands it rejects."""
        raise NotImplementedError(f"{cls.name} has no type rule; give result types explicitly")

    def verify_op(self) -> None:
        """Op-specific invariants beyond the type rule (default: none)."""

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        """The reference semantics in numpy: what every backend must compute."""
        raise NotImplementedError(f"{self.name} has no reference semantics")

    def flops(self, operand_shapes: Sequence[Sequence[Any]], result_shapes: Sequence[Sequence[Any]]) -> Any:
        """The arithmetic one run of the op does, for `profile=True`: from the shapes of its
        operands and results, whose sizes are any numbers (ints, or values in generated code,
        which support `*` and `+`). None: the op only moves data (the default)."""
        return None

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """The vector-Jacobian product: each operand's gradient given the results' gradients.

        `output_grads[i]` has the type of result i, or is None where no gradient
        reaches that result. Return one entry per operand, with exactly the
        operand's type, or None where the operand gets no gradient (integer
        operands, conditions, indices). New ops are created through `builder`,
        which places them before the gradient being expanded. The default
        declares the op non-differentiable (the grad pass names it in its error).
        """
        raise NotImplementedError(f"{self.name} has no gradient")

    # -- structure ----------------------------------------------------------------------

    @property
    def result(self) -> OpResult:
        if len(self.results) != 1:
            raise TcVerificationError(f"{self.name} has {len(self.results)} results, not one")
        return self.results[0]

    def has_trait(self, trait: str) -> bool:
        return trait in self.traits

    def _append_operand(self, value: Value) -> None:
        value.uses.append(Use(self, len(self.operands)))
        self.operands.append(value)

    def set_operand(self, index: int, value: Value) -> None:
        old = self.operands[index]
        old.uses.remove(Use(self, index))
        self.operands[index] = value
        value.uses.append(Use(self, index))

    def drop_operands(self) -> None:
        for index, value in enumerate(self.operands):
            value.uses.remove(Use(self, index))
        self.operands = []

    def erase(self) -> None:
        """Remove from the parent block; the results must be unused."""
        for result in self.results:
            if result.uses:
                raise TcVerificationError(f"erasing {self.name} whose result is still used")
        for region in self.regions:
            for block in region.blocks:
                for op in reversed(block.ops):
                    op.drop_operands()
        self.drop_operands()
        if self.parent is not None:
            self.parent.remove(self)

    def walk(self) -> Iterator[Operation]:
        """This op and every op nested in its regions, in order."""
        yield self
        for region in self.regions:
            for block in region.blocks:
                for op in list(block.ops):
                    yield from op.walk()

    def __repr__(self) -> str:
        return f"<{self.name} at {id(self):#x}>"


class NoResults(Operation):
    """Base of ops that produce nothing (terminators, stores): their type rule is empty."""

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        return []


class Block:
    """A list of ops with typed arguments; the last op is a terminator.

    Inserting and removing ops take constant time: the edits are kept aside
    and applied to the list, all at once, the next time `ops` is read. (A
    rewrite of every op of a long block would otherwise shift the list per
    op: quadratic.) An erased op is dead and never comes back.
    """

    def __init__(self, arg_types: Iterable[TensorType] = (), arg_names: Iterable[str | None] = ()):
        names = list(arg_names)
        self.args = [
            BlockArgument(t, self, i, names[i] if i < len(names) else None) for i, t in enumerate(arg_types)
        ]
        self._ops: list[Operation] = []
        self._inserted: dict[Operation, list[Operation]] = {}  # anchor -> ops to put before it
        self._removed = 0  # ops in _ops whose parent is no longer this block
        self.parent: Region | None = None

    @property
    def ops(self) -> list[Operation]:
        if self._inserted or self._removed:
            self._apply_edits()
        return self._ops

    @ops.setter
    def ops(self, ops: list[Operation]) -> None:
        self._ops = ops
        self._inserted = {}
        self._removed = 0

    def append(self, op: Operation) -> Operation:
        op.parent = self
        self._ops.append(op)
        return op

    def insert_before(self, anchor: Operation, op: Operation) -> Operation:
        if anchor.parent is not self:
            raise ValueError(f"{anchor!r} is not in this block")
        op.parent = self
        self._inserted.setdefault(anchor, []).append(op)
        return op

    def remove(self, op: Operation) -> None:
        """Take `op` out of the block (Operation.erase calls this)."""
        if op.parent is not self:
            raise ValueError(f"{op!r} is not in this block")
        op.parent = None
        self._removed += 1

    def _apply_edits(self) -> None:
        ops: list[Operation] = []
        pending = list(reversed(self._ops))  # a stack: inserted ops may be anchors themselves
        while pending:
            op = pending.pop()
            before = self._inserted.pop(op, None)
            if before:
                pending.append(op)
                pending.extend(reversed(before))
            elif op.parent is self:
                ops.append(op)
        self.ops = ops

    @property
    def terminator(self) -> Operation | None:
        if self.ops and self.ops[-1].has_trait(TERMINATOR):
            return self.ops[-1]
        return None


class Region:
    """Ops nested inside an op (e.g. the body of a fused kernel)."""

    def __init__(self, blocks: Iterable[Block] = ()) -> None:
        self.blocks = list(blocks)
        for block in self.blocks:
            block.parent = self
        self.parent: Operation | None = None

    @property
    def block(self) -> Block:
        return self.blocks[0]


@dataclass
class Global:
    """A module-level buffer (a shared variable) with its initial value."""

    name: str
    type: TensorType
    initial: np.ndarray | None = None


@dataclass
class Function:
    """`func @name(%args) -> results { body }`; the body ends in `return`."""

    name: str
    body: Block
    location: Location | None = None

    @property
    def args(self) -> list[BlockArgument]:
        return self.body.args

    @property
    def return_op(self) -> Operation:
        term = self.body.terminator
        if term is None:
            raise TcVerificationError(f"function @{self.name} has no return")
        return term

    @property
    def result_types(self) -> list[TensorType]:
        return [v.type for v in self.return_op.operands]

    def walk(self) -> Iterator[Operation]:
        for op in list(self.body.ops):
            yield from op.walk()

    def nested_bodies(self) -> list[Function]:
        """The bodies of CALLABLE_BODY ops (a scan's step), innermost first, each as a Function
        named `<name>.<op><k>` sharing the op's block: passes and backends treat them as functions."""
        found: list[Function] = []
        for op in self.body.ops:
            if op.has_trait(CALLABLE_BODY):
                for region in op.regions:
                    body = Function(
                        f"{self.name}.{op.name.split('.')[-1]}{len(found)}", region.block, op.location
                    )
                    found.extend(body.nested_bodies())
                    found.append(body)
        return found


@dataclass
class Module:
    """Globals and functions; the unit that is printed, parsed, optimised and compiled."""

    functions: list[Function] = field(default_factory=list)
    globals: list[Global] = field(default_factory=list)

    def function(self, name: str) -> Function:
        for func in self.functions:
            if func.name == name:
                return func
        raise KeyError(name)

    def __str__(self) -> str:
        from .printer import print_module

        return print_module(self)


def product(sizes: Iterable[Any]) -> Any:
    """The product of `sizes` (ints, or any numbers that multiply with ints), 1 for none."""
    total: Any = 1
    for size in sizes:
        total = size * total
    return total
