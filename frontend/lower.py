"""Lower a builder graph to an IR module: one function from inputs to outputs.

Every call creates fresh IR objects, so the same Variables can be compiled
into any number of functions (with different inputs, givens or passes)
without one compilation seeing another's rewrites. The walk is iterative, so
graphs thousands of ops deep lower without touching the recursion limit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from ..ir.attributes import SymbolRef
from ..ir.core import Block, Function, Global, Module, Operation, Value
from ..ir.errors import TcTypeError, TcValueError, TcVerificationError
from ..ir.ops.builtin import Constant as ConstantOp
from ..ir.ops.builtin import Return
from ..ir.ops.elementwise import Cast
from ..ir.ops.state import Given, Load, Store
from ..ir.types import TensorType
from ..ir.verifier import verify_module
from .graph import Apply, Constant, TensorLike, Variable, as_tensor_variable, user_location
from .shared import SharedVariable

_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_$.]*$")


class MissingInputError(TcValueError):
    """An output depends on a root variable that is neither an input nor a constant.

    Named after Theano's error of the same meaning, so that code catching it by
    name keeps reading naturally.
    """


class BuiltFunction(NamedTuple):
    """A module with one function, and the shared variables behind its globals."""

    module: Module
    shared: dict[str, SharedVariable]  # global symbol -> variable


def build_function_ir(
    name: str,
    inputs: Sequence[Variable],
    outputs: Sequence[TensorLike],
) -> Module:
    """A verified module with one function `name`: block arguments are `inputs`,
    the returned values `outputs` (non-Variables are converted to constants)."""
    return build_function(name, inputs, outputs).module


def build_function(
    name: str,
    inputs: Sequence[Variable],
    outputs: Sequence[TensorLike],
    updates: Sequence[tuple[SharedVariable, Variable]] = (),
    givens: Sequence[tuple[Variable, Variable]] = (),
    verify: bool = True,
) -> BuiltFunction:
    """Lower outputs, updates (`tx.store`) and givens (`tx.given`) into one function.

    Shared variables become globals read with `tx.load`. A given that replaces a
    root which is neither an input nor shared is bound directly; any other given
    becomes a `tx.given` for the substitute-givens pass. `verify=False`: the caller
    verifies the module, when its caches do not already know its text verified (1-2 ms of
    a warm start's train step).
    """
    if not _SYMBOL.match(name):
        raise TcValueError(f"function name {name!r} is not a valid symbol ({_SYMBOL.pattern})")
    if isinstance(inputs, Variable):
        inputs = [inputs]
    if isinstance(outputs, Variable):
        outputs = [outputs]
    _check_inputs(inputs)
    results = [as_tensor_variable(out) for out in outputs]
    bound = {
        old: new
        for old, new in givens
        if old.owner is None and old not in inputs and not isinstance(old, SharedVariable)
    }
    ir_givens = [(old, new) for old, new in givens if old not in bound]
    roots = results + [expr for _, expr in updates] + [new for _, new in givens]
    roots += [old for old, _ in ir_givens]
    order = _topological_order(name, list(inputs), roots, bound)

    values = _lower_applies(inputs, order, bound)
    block, value_of = values.block, values.value_of
    for old, new in ir_givens:
        block.append(Given([value_of(old), value_of(new)], [], location=new.location))
    for variable, expr in updates:
        store = Store(
            [value_of(expr)], [], {"global": SymbolRef(values.symbol_of(variable))}, location=expr.location
        )
        block.append(store)
    returned = [value_of(v) for v in results]
    block.append(Return.create(returned))
    module = values.module
    module.functions.append(Function(name, block, location=user_location()))
    if verify:
        verify_module(module)
    return BuiltFunction(module, values.shared)


def lower_body(
    name: str, inputs: Sequence[Variable], outputs: Sequence[Variable], bound: dict[Variable, Variable]
) -> Block:
    """A block whose arguments are `inputs` and which returns `outputs`: a loop's step body.

    `bound` maps each outer variable the step reads to the input standing for it, so the
    block is isolated from above (shared variables included: they are inputs too)."""
    order = _topological_order(name, list(inputs), list(outputs), bound)
    values = _lower_applies(inputs, order, bound)
    if values.module.globals:
        raise TcVerificationError(f"{name}: a step body cannot read shared variables directly")
    values.block.append(Return.create([values.value_of(v) for v in outputs]))
    return values.block


def _lower_applies(
    inputs: Sequence[Variable], order: list[Apply], bound: dict[Variable, Variable]
) -> _Values:
    """A new block with `inputs` as arguments and the ops of `order` appended."""
    block = Block([v.type for v in inputs], [v.name for v in inputs])
    values = _Values(block, dict(zip(inputs, block.args, strict=True)), bound)
    for apply in order:
        op = block.append(_lower_apply(apply, [values.value_of(v) for v in apply.inputs]))
        for variable, result in zip(apply.outputs, op.results, strict=True):
            if variable.type != result.type:
                raise TcVerificationError(
                    f"{op.name}: the builder typed its result {variable.type} but the IR infers {result.type}"
                )
            result.name = variable.name
            values.values[variable] = result
    return values


class _Values:
    """The IR value of each Variable in the function being built: block arguments and op
    results as they are lowered; loads of shared variables (their globals added to `module`
    on first use), constants, and bound givens' replacements, appended on first use."""

    def __init__(self, block: Block, values: dict[Variable, Value], bound: dict[Variable, Variable]) -> None:
        self.block = block
        self.values = values
        self.bound = bound
        self.module = Module([])
        self.shared: dict[str, SharedVariable] = {}
        self.symbols: dict[SharedVariable, str] = {}

    def symbol_of(self, variable: SharedVariable) -> str:
        if variable not in self.symbols:
            symbol = _unique_symbol(variable.name or "shared", self.shared)
            self.symbols[variable] = symbol
            self.shared[symbol] = variable
            self.module.globals.append(Global(symbol, variable.type))
        return self.symbols[variable]

    def value_of(self, variable: Variable) -> Value:
        values = self.values
        found = values.get(variable)
        if found is None and variable in self.bound:
            found = values[variable] = self.value_of(self.bound[variable])
        elif found is None and isinstance(variable, SharedVariable):
            load = Load(
                [],
                [variable.type],
                {"global": SymbolRef(self.symbol_of(variable))},
                location=variable.location,
            )
            found = values[variable] = self.block.append(load).results[0]
            found.name = variable.name
        elif found is None:
            # Only constants reach here: _topological_order rejected every other root.
            assert isinstance(variable, Constant)
            op = self.block.append(ConstantOp.of(variable.data, location=variable.location))
            found = values[variable] = op.result
            found.name = variable.name
        return found


def _unique_symbol(name: str, taken: dict[str, SharedVariable]) -> str:
    base = name if _SYMBOL.match(name) else "shared"
    symbol, suffix = base, 0
    while symbol in taken:
        suffix += 1
        symbol = f"{base}_{suffix}"
    return symbol


def _lower_apply(apply: Apply, operands: list[Value]) -> Operation:
    if apply.op_class is Cast:
        # The IR's cast keeps its target in the result type, not in an attribute; it also keeps
        # the sizes a cast learns (T.specify_shape), which the shape plan checks before the call.
        source, learned = operands[0].type, apply.outputs[0].type.shape
        if len(learned) == source.rank and any(
            s is None and d is not None for s, d in zip(source.shape, learned, strict=True)
        ):
            shape = tuple(s if s is not None else d for s, d in zip(source.shape, learned, strict=True))
            target = TensorType(apply.attributes["dtype"], shape)  # type: ignore[arg-type]
            return Cast([operands[0]], [target], location=apply.location)
        return Cast.to(operands[0], apply.attributes["dtype"], location=apply.location)  # type: ignore[arg-type]
    if apply.regions is not None:  # a loop: its step body is lowered afresh for each function
        return apply.op_class.create(operands, apply.attributes, apply.regions(), location=apply.location)
    try:
        return apply.op_class.create(operands, apply.attributes, location=apply.location)
    except NotImplementedError:  # ops without a type rule (random draws) keep the builder's types
        types = [v.type for v in apply.outputs]
        return apply.op_class(operands, types, apply.attributes, location=apply.location)


def _check_inputs(inputs: Sequence[Variable]) -> None:
    seen: dict[Variable, int] = {}
    for position, variable in enumerate(inputs):
        if not isinstance(variable, Variable):
            raise TcTypeError(f"input #{position} is {variable!r}, not a symbolic Variable")
        if isinstance(variable, Constant):
            raise TcTypeError(f"input #{position} is the constant {variable}; constants cannot be inputs")
        if variable.owner is not None:
            raise TcTypeError(
                f"input #{position} ({variable}) is computed by {variable.owner.op_class.name}"
                f"{_at(variable)}; inputs must be root variables such as T.vector() "
                "(use givens to replace an intermediate value)"
            )
        if variable in seen:
            raise TcValueError(
                f"input {variable} is given twice (as input #{seen[variable]} and #{position})"
            )
        seen[variable] = position


def _topological_order(
    name: str,
    inputs: Sequence[Variable],
    outputs: list[Variable],
    bound: dict[Variable, Variable] | None = None,
) -> list[Apply]:
    """The applies the outputs need, each after its inputs' applies (iterative post-order).

    A `bound` root stands for its replacement, so it depends on what that needs.
    """
    bound = bound or {}
    known = set(inputs)
    done: set[Apply] = set()
    order: list[Apply] = []
    missing: dict[Variable, str] = {}

    def needs(variable: Variable, user: str) -> Apply | None:
        """The apply still to visit for `variable`, recording it if it is a missing root."""
        seen = set()
        while variable in bound:
            if variable in seen:
                raise TcValueError(f"givens replace {variable} by itself through a cycle")
            seen.add(variable)
            variable = bound[variable]
        if variable in known or isinstance(variable, (Constant, SharedVariable)):
            return None
        if variable.owner is None:
            missing.setdefault(variable, user)
            return None
        return None if variable.owner in done else variable.owner

    # Children are examined left to right (so errors list them in order), pushed reversed
    # (so they are lowered left to right).
    roots = [needs(out, f"output #{index}") for index, out in enumerate(outputs)]
    stack: list[tuple[Apply, bool]] = [(a, False) for a in reversed(roots) if a is not None]
    while stack:
        apply, expanded = stack.pop()
        if apply in done:
            continue
        if expanded:
            done.add(apply)
            order.append(apply)
            continue
        stack.append((apply, True))
        user = f"{apply.op_class.name}{_at(apply)}"
        owners = [needs(variable, user) for variable in apply.inputs]
        stack.extend((a, False) for a in reversed(owners) if a is not None)
    if missing:
        lines = [f"  {_describe(v)}, used by {user}" for v, user in missing.items()]
        raise MissingInputError(
            f"function @{name}: the outputs depend on variable(s) that are neither inputs nor "
            "constants; add them to the inputs:\n" + "\n".join(lines)
        )
    return order


def _describe(variable: Variable) -> str:
    label = f"'{variable.name}'" if variable.name is not None else "an unnamed variable"
    return f"{label} ({variable.type}{_at(variable, ', created at ')})"


def _at(obj: Variable | Apply, prefix: str = " at ") -> str:
    return f"{prefix}{obj.location}" if obj.location is not None else ""
