"""The names a .tx file can call, and the constants it can use: the builder's own functions.

Every entry is a function of `tc.tensor`, so .tx and Python share one
definition of each op and of promotion. Capabilities that the builder gains
later (reductions, matrix products, ...) become callable here by adding their
name to `_LATER`; until the builder has them they stay unknown names.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from ...ir.dtypes import DType
from .. import tensor as T
from ..elemwise import GENERATED
from ..generated import GENERATED_OPS

# .tx name -> builder attribute, for the builders written by hand and the aliases; every
# generated builder (elemwise.GENERATED: sin, hypot, floor_div, ...; generated.GENERATED_OPS:
# cumsum, ...) is a builtin under its own name too.
_ELEMENTWISE = {
    "abs": "abs_",
    "sign": "sgn",
    "square": "sqr",
    "round": "round_",
    "add": "add",
    "mul": "mul",
    "int_div": "int_div",
    "clip": "clip",
    "switch": "switch",
    "where": "where",
    "cast": "cast",
}

# Builder functions that take .tx syntax as soon as the builder defines them.
_LATER = ("sum", "mean", "prod", "max", "min", "argmax", "argmin", "dot", "grad", "logsumexp")
# The neural-network helpers Theano keeps in T.nnet, callable by their plain names.
_NNET = ("relu", "softmax", "log_softmax", "categorical_crossentropy", "binary_crossentropy")

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan}

# Type names: reserved, usable as values only where a dtype is expected (`cast(x, f32)`).
DTYPES: dict[str, DType] = {d.value: d for d in DType}


def _functions() -> dict[str, Callable[..., Any]]:
    table = {name: getattr(T, name) for name in [*GENERATED, *GENERATED_OPS]}
    table.update({name: getattr(T, attr) for name, attr in _ELEMENTWISE.items()})
    table.update({name: getattr(T.nnet, name) for name in _NNET})
    from .. import constructors, conv, shape_ops

    table.update({"conv2d": conv.conv2d, "pool_2d": conv.pool_2d})  # Theano's T.nnet / signal.pool

    for module, names in (
        (constructors, ("arange", "alloc", "zeros", "ones", "zeros_like", "ones_like", "fill", "second")),
        (shape_ops, ("reshape", "flatten", "concatenate", "stack", "inc_subtensor", "set_subtensor")),
    ):
        table.update({name: getattr(module, name) for name in names})
    table.update({name: getattr(T, name) for name in _LATER if callable(getattr(T, name, None))})
    return table


FUNCTIONS = _functions()


def signature_text(name: str) -> str:
    """`name(x, y)` as the user calls it, for error messages."""
    try:
        parameters = inspect.signature(FUNCTIONS[name]).parameters.values()
    except (TypeError, ValueError):
        return f"{name}(...)"
    shown = []
    for p in parameters:
        if p.kind is p.VAR_POSITIONAL:
            shown.append(f"{p.name}...")
        elif p.default is not p.empty:
            shown.append(f"{p.name} = {p.default!r}")
        else:
            shown.append(p.name)
    return f"{name}({', '.join(shown)})"
