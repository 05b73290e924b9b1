"""The literals of the textual IR: tensor types (`tensor<2x?xf32>`) and dense literals (`dense<...>`).

Split out of parser.py, which reads the rest; errors are TcParseError like the parser's.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .dtypes import DType
from .errors import TcParseError
from .types import TensorType

_TYPE_RE = re.compile(r"tensor<((?:(?:[0-9]+|\?)x)*)([a-z][a-z0-9]*)>")
_DENSE_TOKEN = re.compile(r"\[|\]|,|[^\s\[\],]+")
_INT_TOKEN = re.compile(r"-?\d+")
_I64_MAX = 2**63 - 1
# A splat (`dense<0.0> : tensor<1000x1000xf64>`) is expanded into a full array;
# beyond this many elements that is a hostile input, not a program.
MAX_SPLAT_ELEMENTS = 2**24
# Deeper nesting than any real IR has; walking it recursively could exhaust the stack.
MAX_NESTING = 64


def parse_type(text: str) -> TensorType:
    """`tensor<2x?xf32>` as a TensorType; every dimension must fit i64."""
    match = _TYPE_RE.fullmatch(text)
    if match is None:
        raise TcParseError(f"malformed type {text!r}")
    try:
        dtype = DType(match.group(2))
    except ValueError:
        known = ", ".join(d.value for d in DType)
        raise TcParseError(f"unknown element type '{match.group(2)}' in {text}; types are {known}") from None
    dims: list[int | None] = []
    elements = 1
    for text_dim in match.group(1).split("x")[:-1]:
        if text_dim == "?":
            dims.append(None)
            continue
        if len(text_dim.lstrip("0")) > 19 or int(text_dim) > _I64_MAX:
            raise TcParseError(
                f"dimension {_clip(text_dim)} of {_clip(text)} is too large (it does not fit i64)"
            )
        dims.append(int(text_dim))
        elements *= int(text_dim)
    if elements > _I64_MAX:
        raise TcParseError(f"{_clip(text)} has {elements} elements, too many to count in i64")
    return TensorType(dtype, tuple(dims))


def parse_dense(text: str, type: TensorType) -> np.ndarray:
    """`dense<[1.0, 2.0]>` (or just its inside) as an array of `type`."""
    body = text[len("dense<") : -1] if text.startswith("dense<") else text
    leaves, shape = _dense_leaves(body)
    kind = type.dtype
    if kind is DType.BOOL:
        array = np.array([bool(v) for v in leaves], dtype=bool)
    elif kind.is_integer:
        array = np.array([_integer(v, kind, body) for v in leaves], dtype=kind.numpy)
    else:
        wide = np.array([_real(v, kind, body) for v in leaves], dtype=np.float64)
        with np.errstate(over="ignore"):
            array = wide.astype(kind.numpy)
        if np.any(np.isinf(array) & np.isfinite(wide)):
            raise TcParseError(f"dense literal {_clip(body)} is out of range for {kind}")
    array = array.reshape(shape)
    if array.ndim == 0 and type.rank:
        elements = math.prod(d or 1 for d in type.shape)
        if elements > MAX_SPLAT_ELEMENTS:
            raise TcParseError(
                f"dense literal {_clip(body)} would fill {type} with {elements} elements; "
                f"textual IR expands at most {MAX_SPLAT_ELEMENTS}"
            )
        array = np.full([d or 1 for d in type.shape], array, dtype=kind.numpy)
    if array.size == 0 and type.is_static and math.prod(type.shape) == 0:
        array = array.reshape(type.shape)  # `[]` is every empty tensor's literal
    if not type.accepts_shape(array.shape):
        raise TcParseError(f"dense literal of shape {array.shape} does not fit {type}")
    return array


def _clip(body: str) -> str:
    return repr(body if len(body) <= 60 else body[:57] + "...")


def _integer(value: bool | int | float, kind: DType, body: str) -> int:
    info = np.iinfo(kind.numpy)
    fits = f"integers from {info.min} to {info.max}"
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise TcParseError(f"{value}{_within(body)} does not fit {kind} (it holds {fits})")
        value = int(value)
    if not info.min <= value <= info.max:
        raise TcParseError(f"{value}{_within(body)} does not fit {kind} (it holds {fits})")
    return int(value)


def _real(value: bool | int | float, kind: DType, body: str) -> float:
    try:
        return float(value)
    except OverflowError:
        raise TcParseError(f"{value}{_within(body)} does not fit {kind}") from None


def _within(body: str) -> str:
    return "" if _DENSE_TOKEN.fullmatch(body.strip()) else f" in dense literal {_clip(body)}"


def _dense_leaves(body: str) -> tuple[list[bool | int | float], tuple[int, ...]]:
    """The numbers of a dense literal in order, and its shape; nested lists must be rectangular.

    A loop over the tokens with a stack of open lists, not recursion, so that
    no input can exhaust Python's stack.
    """
    tokens = _DENSE_TOKEN.findall(body)
    if not tokens:
        raise TcParseError("empty dense literal")
    leaves: list[bool | int | float] = []
    open_counts: list[int] = []  # items so far in each open list
    sizes: list[int | None] = []  # the length of the lists at each depth, once one has closed
    leaf_depth: int | None = None  # how many lists enclose every number
    expect_item = True
    for index, token in enumerate(tokens):
        if index and not open_counts:
            raise TcParseError(f"trailing text {_clip(token)} in dense literal {_clip(body)}")
        if token == "[":
            if not expect_item:
                raise TcParseError(f"expected ',' or ']' before '[' in dense literal {_clip(body)}")
            if len(open_counts) >= MAX_NESTING:
                raise TcParseError(f"dense literal nested deeper than {MAX_NESTING} levels")
            open_counts.append(0)
            if len(sizes) < len(open_counts):
                sizes.append(None)
        elif token == ",":
            if expect_item:
                raise TcParseError(f"misplaced ',' in dense literal {_clip(body)}")
            expect_item = True
        elif token == "]":
            if not open_counts:
                raise TcParseError(f"unbalanced ']' in dense literal {_clip(body)}")
            depth, count = len(open_counts), open_counts.pop()
            if count == 0:  # `[]`: this depth is the innermost one
                leaf_depth = depth if leaf_depth is None else leaf_depth
            if leaf_depth is not None and depth > leaf_depth:
                raise TcParseError(f"ragged dense literal {_clip(body)}")
            if sizes[depth - 1] is None:
                sizes[depth - 1] = count
            elif sizes[depth - 1] != count:
                raise TcParseError(
                    f"ragged dense literal {_clip(body)}: rows of {sizes[depth - 1]} and {count}"
                )
            if open_counts:
                open_counts[-1] += 1
            expect_item = False
        else:
            if not expect_item:
                raise TcParseError(
                    f"expected ',' or ']' before {_clip(token)} in dense literal {_clip(body)}"
                )
            depth = len(open_counts)
            if leaf_depth is None:
                leaf_depth = depth
            elif leaf_depth != depth:
                raise TcParseError(f"ragged dense literal {_clip(body)}")
            leaves.append(_dense_number(token))
            if open_counts:
                open_counts[-1] += 1
            expect_item = False
    if open_counts:
        raise TcParseError(f"unterminated dense literal {_clip(body)}")
    shape = tuple(s or 0 for s in sizes[: leaf_depth or 0])
    if math.prod(shape) != len(leaves):
        raise TcParseError(f"ragged dense literal {_clip(body)}")
    return leaves, shape


def _dense_number(token: str) -> bool | int | float:
    if token in ("true", "false"):
        return token == "true"
    try:
        return int(token) if _INT_TOKEN.fullmatch(token) else float(token)
    except ValueError:
        raise TcParseError(f"bad number {_clip(token)} in dense literal") from None
