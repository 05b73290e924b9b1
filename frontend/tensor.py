"""`tc.tensor` (imported as `T`): Theano's symbolic tensor API.

Constructors make root variables (function inputs); the math comes from
`elemwise.py`, most of it generated from the op registry. Shapes follow
Theano's broadcast patterns: a `?` dimension never stretches, a dimension of
1 does, so `row + col` is a matrix while `matrix + matrix` needs equal shapes
at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..ir.errors import TcTypeError
from ..ir.types import Dim, TensorType
from . import nnet
from .config import config
from .elemwise import GENERATED, add, cast, clip, int_div, mul, round_, switch, where
from .generated import GENERATED_OPS, NAMESPACES
from .gradient import grad
from .graph import Apply, Constant, DTypeSpec, Variable, as_tensor_variable, constant, parse_dtype
from .linalg import batched_dot, dimshuffle, dot, matmul, transpose
from .nnet import logsumexp
from .reductions import argmax, argmin, max, mean, min, prod, std, sum, var  # noqa: A004

# The elementwise ops generated from the registry: sin, cos, ..., eq, neq, ... (see elemwise.py),
# the other ops that opted in (cumsum, ...: generated.py), and their namespaces (T.extra_ops).
globals().update(GENERATED)
globals().update(GENERATED_OPS)
assert not set(NAMESPACES) & set(globals()), "a generated namespace hides a name of T"
globals().update(NAMESPACES)


def __getattr__(name: str) -> Callable[..., Variable]:
    # Called only for a name not found: it tells static checkers that the generated names exist.
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# PyTensor's names for the same things.
TensorVariable = Variable
TensorConstant = Constant
abs = GENERATED["abs_"]
round = round_
sign = GENERATED["sgn"]
square = GENERATED["sqr"]

Constructor = Callable[..., Variable]


def tensor(dtype: DTypeSpec, shape: Sequence[Dim | bool], name: str | None = None) -> Variable:
    """A root variable of any rank: `shape` holds known sizes or None (`?`).

    Theano's broadcastable patterns are accepted too: True means a dimension
    of 1, False an unknown one (`T.tensor('float32', (False, True))`).
    """
    dims: list[Dim] = []
    for d in shape:
        if isinstance(d, bool):
            dims.append(1 if d else None)
        elif d is None or isinstance(d, int):
            dims.append(d)
        else:
            raise TcTypeError(f"a dimension is an int or None, found {d!r} in shape {shape!r}")
    return Variable(TensorType(parse_dtype(dtype), tuple(dims)), name=name)


def _shaped(kind: str, shape: tuple[Dim, ...]) -> Constructor:
    def build(name: str | None = None, dtype: DTypeSpec = None) -> Variable:
        return tensor(dtype, shape, name)

    build.__name__ = build.__qualname__ = kind
    build.__doc__ = f"A {kind} of shape {_show(shape)}; dtype defaults to config.floatX."
    return build


def _typed(kind: str, dtype: str, shape: tuple[Dim, ...]) -> Constructor:
    def build(name: str | None = None) -> Variable:
        return tensor(dtype, shape, name)

    build.__name__ = build.__qualname__ = kind
    build.__doc__ = f"A {dtype} tensor of shape {_show(shape)}."
    return build


def _show(shape: tuple[Dim, ...]) -> str:
    dims = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({dims},)" if len(shape) == 1 else f"({dims})"


_SCALAR: tuple[Dim, ...] = ()
_VECTOR: tuple[Dim, ...] = (None,)
_MATRIX: tuple[Dim, ...] = (None, None)
_ROW: tuple[Dim, ...] = (1, None)
_COL: tuple[Dim, ...] = (None, 1)
_TENSOR3: tuple[Dim, ...] = (None, None, None)
_TENSOR4: tuple[Dim, ...] = (None, None, None, None)

scalar = _shaped("scalar", _SCALAR)
vector = _shaped("vector", _VECTOR)
matrix = _shaped("matrix", _MATRIX)
row = _shaped("row", _ROW)
col = _shaped("col", _COL)
tensor3 = _shaped("tensor3", _TENSOR3)
tensor4 = _shaped("tensor4", _TENSOR4)

# b int8, w int16, i int32, l int64, f float32, d float64 (Theano's prefixes).
bscalar = _typed("bscalar", "int8", _SCALAR)
wscalar = _typed("wscalar", "int16", _SCALAR)
iscalar = _typed("iscalar", "int32", _SCALAR)
lscalar = _typed("lscalar", "int64", _SCALAR)
fscalar = _typed("fscalar", "float32", _SCALAR)
dscalar = _typed("dscalar", "float64", _SCALAR)
bvector = _typed("bvector", "int8", _VECTOR)
wvector = _typed("wvector", "int16", _VECTOR)
ivector = _typed("ivector", "int32", _VECTOR)
lvector = _typed("lvector", "int64", _VECTOR)
fvector = _typed("fvector", "float32", _VECTOR)
dvector = _typed("dvector", "float64", _VECTOR)
bmatrix = _typed("bmatrix", "int8", _MATRIX)
wmatrix = _typed("wmatrix", "int16", _MATRIX)
imatrix = _typed("imatrix", "int32", _MATRIX)
lmatrix = _typed("lmatrix", "int64", _MATRIX)
fmatrix = _typed("fmatrix", "float32", _MATRIX)
dmatrix = _typed("dmatrix", "float64", _MATRIX)
brow = _typed("brow", "int8", _ROW)
wrow = _typed("wrow", "int16", _ROW)
irow = _typed("irow", "int32", _ROW)
lrow = _typed("lrow", "int64", _ROW)
frow = _typed("frow", "float32", _ROW)
drow = _typed("drow", "float64", _ROW)
bcol = _typed("bcol", "int8", _COL)
wcol = _typed("wcol", "int16", _COL)
icol = _typed("icol", "int32", _COL)
lcol = _typed("lcol", "int64", _COL)
fcol = _typed("fcol", "float32", _COL)
dcol = _typed("dcol", "float64", _COL)
btensor3 = _typed("btensor3", "int8", _TENSOR3)
wtensor3 = _typed("wtensor3", "int16", _TENSOR3)
itensor3 = _typed("itensor3", "int32", _TENSOR3)
ltensor3 = _typed("ltensor3", "int64", _TENSOR3)
ftensor3 = _typed("ftensor3", "float32", _TENSOR3)
dtensor3 = _typed("dtensor3", "float64", _TENSOR3)
btensor4 = _typed("btensor4", "int8", _TENSOR4)
wtensor4 = _typed("wtensor4", "int16", _TENSOR4)
itensor4 = _typed("itensor4", "int32", _TENSOR4)
ltensor4 = _typed("ltensor4", "int64", _TENSOR4)
ftensor4 = _typed("ftensor4", "float32", _TENSOR4)
dtensor4 = _typed("dtensor4", "float64", _TENSOR4)

__all__ = [
    "grad",
    # graph objects and conversion
    "Apply",
    "Constant",
    "TensorConstant",
    "TensorVariable",
    "Variable",
    "as_tensor_variable",
    "cast",
    "config",
    "constant",
    "nnet",
    # products and reductions
    "dimshuffle",
    "dot",
    "matmul",
    "batched_dot",
    "transpose",
    "logsumexp",
    "argmax",
    "argmin",
    "max",
    "mean",
    "min",
    "prod",
    "std",
    "sum",
    "var",
    # constructors
    "tensor",
    "scalar",
    "vector",
    "matrix",
    "row",
    "col",
    "tensor3",
    "tensor4",
    "bscalar",
    "wscalar",
    "iscalar",
    "lscalar",
    "fscalar",
    "dscalar",
    "bvector",
    "wvector",
    "ivector",
    "lvector",
    "fvector",
    "dvector",
    "bmatrix",
    "wmatrix",
    "imatrix",
    "lmatrix",
    "fmatrix",
    "dmatrix",
    "brow",
    "wrow",
    "irow",
    "lrow",
    "frow",
    "drow",
    "bcol",
    "wcol",
    "icol",
    "lcol",
    "fcol",
    "dcol",
    "btensor3",
    "wtensor3",
    "itensor3",
    "ltensor3",
    "ftensor3",
    "dtensor3",
    "btensor4",
    "wtensor4",
    "itensor4",
    "ltensor4",
    "ftensor4",
    "dtensor4",
    # elementwise math (and every op in GENERATED, added below)
    "abs",
    "add",
    "clip",
    "int_div",
    "mul",
    "round",
    "round_",
    "sign",
    "square",
    "switch",
    "where",
]
__all__ += sorted(GENERATED)
__all__ += sorted(GENERATED_OPS)
__all__ += sorted(NAMESPACES)
