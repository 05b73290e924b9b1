"""Theano's smaller conveniences: plural constructors, join, specify_shape, xlogx.

x, y = T.dmatrices("x", "y")          # a list; one name gives one Variable
T.join(0, a, b)                       # concatenate, Theano's argument order
T.specify_shape(x, (3, 4))            # x, whose sizes are checked before each call
T.xlogx.xlogx(p)                      # 0 where p == 0, else p * log(p)
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..ir.errors import TcShapeError, TcTypeError, TcValueError
from ..ir.ops.elementwise import Cast
from ..ir.types import TensorType
from . import tensor as _tensor
from .elemwise import eq, log, switch
from .graph import Apply, TensorLike, Variable, as_tensor_variable, located, user_location
from .shape_ops import concatenate

_KINDS = ("scalar", "vector", "matrix", "row", "col", "tensor3", "tensor4")
_PREFIXES = ("", "b", "w", "i", "l", "f", "d")


def _plural_name(kind: str) -> str:
    return "matrices" if kind == "matrix" else kind + "s"


def _plural(single: Callable[..., Variable], name: str) -> Callable[..., Any]:
    def build(*names: Any, **kwargs: Any) -> Any:
        if len(names) == 1 and isinstance(names[0], int) and not isinstance(names[0], bool):
            return [single(**kwargs) for _ in range(names[0])]  # `dscalars(3)`: three unnamed
        for given in names:
            if not isinstance(given, str):
                raise TcTypeError(located(f"{name} takes names (str) or one count (int), found {given!r}"))
        if len(names) == 1:
            return single(names[0], **kwargs)  # one name, one Variable (Theano's _multi)
        return [single(given, **kwargs) for given in names]

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"Several {single.__name__}s: a list of them, or one Variable for one name (Theano's)."
    return build


PLURALS: dict[str, Callable[..., Any]] = {
    prefix + _plural_name(kind): _plural(getattr(_tensor, prefix + kind), prefix + _plural_name(kind))
    for kind in _KINDS
    for prefix in _PREFIXES
}


def join(axis: int, *tensors: TensorLike) -> Variable:
    """Theano's join: the tensors concatenated along `axis` (which comes first)."""
    if isinstance(axis, Variable) or not isinstance(axis, int):
        raise TcTypeError(located(f"join: the axis must be an int, found {axis!r}"))
    return concatenate(list(tensors), axis=axis)


def specify_shape(x: TensorLike, shape: Any) -> Variable:
    """x, whose sizes are `shape`: the known ones are checked before each call (Theano's).

    `shape` lists an int or a symbolic scalar per axis (or is a vector such as
    `y.shape`); symbolic sizes are taken as unknown.
    """
    value = as_tensor_variable(x)
    if isinstance(shape, Variable):
        if shape.ndim != 1 or shape.type.shape[0] != value.ndim:
            raise TcValueError(
                located(f"specify_shape: the shape {shape.type} must be a vector of {value.ndim} sizes")
            )
        return value
    if not isinstance(shape, (list, tuple)) or len(shape) != value.ndim:
        raise TcValueError(
            located(f"specify_shape: {value} has rank {value.ndim}, found the shape {shape!r}")
        )
    dims: list[int | None] = []
    for axis, (known, given) in enumerate(zip(value.type.shape, shape, strict=True)):
        size = int(given) if isinstance(given, int) and not isinstance(given, bool) else None
        if size is not None and (size < 0 or (known is not None and known != size)):
            raise TcShapeError(
                located(f"specify_shape: axis {axis} of {value} ({value.type}) cannot have size {size}")
            )
        dims.append(known if known is not None else size)
    if tuple(dims) == value.type.shape:
        return value
    # A cast to the same dtype that learns the sizes: the shape plan checks them before the call.
    out = Variable(TensorType(value.type.dtype, tuple(dims)), location=user_location())
    Apply(Cast, [value], {"dtype": value.type.dtype}, [out], out.location)
    return out


def xlogx(x: TensorLike) -> Variable:
    """x * log(x), and 0 where x == 0 (Theano's T.xlogx.xlogx); finite gradient at 0."""
    value = as_tensor_variable(x)
    return value * log(switch(eq(value, 0), 1, value))


def xlogy0(x: TensorLike, y: TensorLike) -> Variable:
    """x * log(y), and 0 where x == 0 (Theano's T.xlogx.xlogy0)."""
    left, right = as_tensor_variable(x), as_tensor_variable(y)
    return left * log(switch(eq(left, 0), 1, right))


# `T.xlogx.xlogx`, also importable as `tc.tensor.xlogx` (Theano's theano.tensor.xlogx module).
xlogx_module = ModuleType("tc.tensor.xlogx", "Theano's theano.tensor.xlogx: xlogx and xlogy0.")
xlogx_module.xlogx = xlogx  # type: ignore[attr-defined]
xlogx_module.xlogy0 = xlogy0  # type: ignore[attr-defined]

__all__ = ["join", "specify_shape", *PLURALS]
