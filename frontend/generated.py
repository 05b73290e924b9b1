"""Builders generated from the registry for the ops that are a plain function of tensors
and keyword attributes: `T.<name>(x, axis=...)` and the .tx builtin `name(x, axis = ...)`.

An op class that is not elementwise (those promote: elemwise.py) opts in by setting
`frontend_name`. The builder takes the op's `arity` tensors (`x`, `x, y`, or `x0, x1, ...`),
then every attribute declared with `attr(...)` as a keyword, with the attribute's default;
its docstring is the class's. An attribute declared `attr(int, axis_of=k)` is an axis of
operand k: a negative one counts from the end, and None (the default when the attribute has
none) flattens operand k first and takes axis 0, as numpy's `axis=None`. With
`frontend_namespace`, the builder is also `T.<namespace>.<name>` (NAMESPACES).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from ..ir.attributes import MISSING, Attr
from ..ir.core import OP_REGISTRY, Operation
from ..ir.errors import TcTypeError, TcValueError
from ..ir.ops.elementwise_base import ElementwiseOp
from .elemwise import GENERATED
from .graph import Variable, as_tensor_variable, located, make_apply
from .shape_ops import flatten


def _operand_names(arity: int) -> list[str]:
    return ["x"] if arity == 1 else ["x", "y"] if arity == 2 else [f"x{i}" for i in range(arity)]


def _signature(op_class: type[Operation]) -> inspect.Signature:
    """The operands, then the attributes (positional too, up to the first one after a default
    that has none: `cumsum(x, 1)` as numpy's)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter(name, kind) for name in _operand_names(_arity(op_class))]
    for key, descriptor in op_class.attribute_descriptors.items():
        default = descriptor.default
        if default is MISSING and descriptor.axis_of is not None:
            default = None
        if default is MISSING:
            if parameters and parameters[-1].default is not inspect.Parameter.empty:
                kind = inspect.Parameter.KEYWORD_ONLY
            parameters.append(inspect.Parameter(key, kind))
        else:
            parameters.append(inspect.Parameter(key, kind, default=default))
    return inspect.Signature(parameters)


def _arity(op_class: type[Operation]) -> int:
    if not isinstance(op_class.arity, int):
        raise TypeError(f"{op_class.name}: a generated builder needs a fixed operand count (arity)")
    return op_class.arity


def _attribute(op_class: type[Operation], descriptor: Attr[Any], value: Any, operands: list[Variable]) -> Any:
    """A keyword's value as the op's attribute: checked, lists as tuples, axes normalised
    (an axis of None has flattened its operand already)."""
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, np.integer):
        value = int(value)
    if not isinstance(value, descriptor.kind) or (isinstance(value, bool) and descriptor.kind is int):
        raise TcTypeError(
            located(
                f"{op_class.frontend_name}: {descriptor.key} must be {_kind(descriptor)}, found {value!r}"
            )
        )
    if descriptor.axis_of is not None:
        rank = operands[descriptor.axis_of].ndim
        if not -rank <= value < rank:
            raise TcValueError(
                located(f"{op_class.frontend_name}: axis {value} is out of range for a tensor of rank {rank}")
            )
        value %= rank
    return value


def _kind(descriptor: Attr[Any]) -> str:
    kinds = descriptor.kind if isinstance(descriptor.kind, tuple) else (descriptor.kind,)
    return " or ".join(k.__name__ for k in kinds)


def _builder(op_class: type[Operation]) -> Callable[..., Variable]:
    signature = _signature(op_class)
    count = _arity(op_class)

    def build(*args: Any, **kwargs: Any) -> Variable:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = list(bound.arguments.values())
        operands = [as_tensor_variable(v) for v in values[:count]]
        attributes = {}
        for descriptor, value in zip(op_class.attribute_descriptors.values(), values[count:], strict=True):
            if value is None and descriptor.axis_of is not None:
                operands[descriptor.axis_of] = flatten(operands[descriptor.axis_of])
                value = 0
            attributes[descriptor.key] = _attribute(op_class, descriptor, value, operands)
        return make_apply(op_class, operands, attributes).out

    name = op_class.frontend_name or ""
    build.__name__ = build.__qualname__ = name
    build.__doc__ = (op_class.__doc__ or "").strip()
    build.__signature__ = signature  # type: ignore[attr-defined]  # what inspect and .tx read
    return build


def _generated() -> dict[str, Callable[..., Variable]]:
    builders: dict[str, Callable[..., Variable]] = {}
    for op_class in OP_REGISTRY.values():
        if issubclass(op_class, ElementwiseOp) or op_class.frontend_name is None:
            continue
        assert op_class.frontend_name not in builders, f"two ops named {op_class.frontend_name}"
        builders[op_class.frontend_name] = _builder(op_class)
    return builders


def _namespaces() -> dict[str, ModuleType]:
    modules: dict[str, ModuleType] = {}
    for op_class in OP_REGISTRY.values():
        space, name = op_class.frontend_namespace, op_class.frontend_name
        if space is None or name is None:
            continue
        module = modules.setdefault(space, ModuleType(f"tc.tensor.{space}", f"`T.{space}` (Theano's)."))
        setattr(module, name, {**GENERATED, **GENERATED_OPS}[name])
        module.__all__ = sorted({*getattr(module, "__all__", []), name})
    return modules


# cumsum, ...: one builder per opted-in op class.
GENERATED_OPS = _generated()
# extra_ops, ...: the namespaces they also live in.
NAMESPACES = _namespaces()
