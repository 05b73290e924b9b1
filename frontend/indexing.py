"""Basic indexing in the builder: `x[2]`, `x[:, 1:-1:2]`, `data[i * bs:(i + 1) * bs]`, `x.shape[0]`.

Integer indices and slices become one `tx.subtensor` (a view, no copy); slice
bounds and indices may be integer scalar Variables, which the shape plan
tracks to the function's inputs. `None` (numpy.newaxis) adds a broadcastable
axis and `...` stands for the axes not named. An integer index computed from
data (`x[T.argmax(v)]`) sizes nothing but can only be checked once the data
exist, so it becomes a `tx.gather` (native index check) on those axes. Integer-array and boolean
indices are advanced indexing, which `advanced_indexing.py` builds.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..ir.errors import TcIndexError, TcTypeError
from ..ir.ops.indexing import Gather
from ..ir.ops.shape import OPERAND, Subtensor
from .graph import Constant, Variable, located, make_apply
from .until_rows import index_head, is_head


def getitem(x: Variable, key: Any) -> Variable:
    """`x[key]` with numpy's basic-indexing semantics (advanced indices delegated)."""
    if is_head(x):  # a scan's rows whose number is known after the loop (until_rows.py)
        return index_head(x, key)
    items = key if isinstance(key, tuple) else (key,)
    if any(_is_advanced(k) for k in items):
        try:
            from .advanced_indexing import advanced_index
        except ImportError:
            raise TcTypeError(located("integer-array and boolean indexing is not available yet")) from None
        return advanced_index(x, items)
    items = _expand_ellipsis(items, x.ndim)
    spec: list[str] = []
    operands: list[Variable] = []
    pattern: list[int] = []  # the final dimshuffle: new axes (-1) among the kept ones
    kept = 0
    gathered: list[tuple[int, Variable]] = []  # (axis of the subtensor's result, index computed from data)
    for item in items:
        if item is None:
            pattern.append(-1)
            continue
        if len(spec) == x.ndim:
            raise TcIndexError(located(f"too many indices for {x.type}: {key!r}"))
        if isinstance(item, slice):
            spec.append(_slice_text(item, operands))
            pattern.append(kept)
            kept += 1
        elif isinstance(item, Variable) and item.type.dtype.is_integer and not _known_before_call(item):
            # No size depends on it, but its check needs the data: a gather checks it natively.
            gathered.append((kept + len(gathered), item))
            spec.append(":")
        else:
            spec.append(_bound_text(item, operands, "index"))
    while spec and spec[-1] == ":":
        spec.pop()
    result = make_apply(Subtensor, [x, *operands], {"spec": tuple(spec)}).out if spec else x
    region: GatheredRegion | None = None
    if gathered:
        front = [axis for axis, _ in gathered]
        order = [*front, *(a for a in range(result.ndim) if a not in front)]
        basic = result
        result = make_apply(Gather, [result.dimshuffle(*order), *(index for _, index in gathered)]).out
        region = GatheredRegion(x, basic, order)
    rest = result.ndim - kept
    pattern += list(range(kept, kept + rest))
    if pattern != list(range(result.ndim)):
        return result.dimshuffle(*["x" if p == -1 else p for p in pattern])
    if region is not None:
        result.gathered_region = region  # type: ignore[attr-defined]  # for inc/set_subtensor
    return result


class GatheredRegion(NamedTuple):
    """How `x[...]` with a gathered index was built: `basic` = x's basic-indexed part (or x),
    shuffled by `order` (the gathered axes first), then gathered."""

    x: Variable
    basic: Variable
    order: list[int]


_ARITHMETIC = {"tx.add", "tx.sub", "tx.mul", "tx.floordiv", "tx.mod", "tx.neg", "tx.maximum", "tx.minimum"}


def _known_before_call(value: Variable) -> bool:
    """Whether `ir/shapes.py` can compute an integer scalar from the arguments before the call:
    inputs, shared variables, constants, shape entries, and integer arithmetic on them."""
    if isinstance(value, Constant) or value.owner is None:
        return True
    name = value.owner.op_class.name
    if name in ("tx.shape", "tx.size"):
        return True
    if not value.type.dtype.is_integer or value.ndim > 1:
        return False
    if name in _ARITHMETIC or name == "tx.cast" or name == Subtensor.name:
        return all(_known_before_call(v) for v in value.owner.inputs)
    return False


def _is_advanced(item: Any) -> bool:
    if isinstance(item, Variable):
        return item.ndim >= 1 or item.type.dtype.is_bool
    if isinstance(item, (list, np.ndarray)):
        return np.ndim(item) >= 1 or np.asarray(item).dtype == bool
    return isinstance(item, (bool, np.bool_))


def _expand_ellipsis(items: tuple[Any, ...], rank: int) -> tuple[Any, ...]:
    count = sum(1 for i in items if i is Ellipsis)
    if count > 1:
        raise TcIndexError(located("an index can only have a single ellipsis ('...')"))
    if not count:
        return items
    at = next(k for k, i in enumerate(items) if i is Ellipsis)
    named = sum(1 for i in items if i is not None and i is not Ellipsis)
    return items[:at] + (slice(None),) * max(rank - named, 0) + items[at + 1 :]


def _literal(item: Any) -> int | None:
    """The Python int an index stands for, when it is known now."""
    if isinstance(item, Constant) and item.ndim == 0 and item.type.dtype.is_integer:
        return int(item.value)
    if isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
        return int(item)
    if isinstance(item, np.ndarray) and item.ndim == 0 and item.dtype.kind in "iu":
        return int(item)
    return None


def _bound_text(item: Any, operands: list[Variable], what: str) -> str:
    literal = _literal(item)
    if literal is not None:
        return str(literal)
    if isinstance(item, Variable):
        if item.ndim != 0 or not item.type.dtype.is_integer or item.type.dtype.is_bool:
            raise TcIndexError(
                located(f"a slice bound or index must be an integer scalar, found {item.type}")
            )
        operands.append(item)
        return OPERAND
    raise TcIndexError(located(f"{what} {item!r} of type {type(item).__name__} is not an integer"))


def _slice_text(item: slice, operands: list[Variable]) -> str:
    start = "" if item.start is None else _bound_text(item.start, operands, "slice start")
    stop = "" if item.stop is None else _bound_text(item.stop, operands, "slice stop")
    if item.step is None:
        return f"{start}:{stop}"
    step = _literal(item.step)
    if step is None:
        raise TcIndexError(located(f"a slice step must be a constant integer, found {item.step!r}"))
    if step == 0:
        raise TcIndexError(located("slice step cannot be zero"))
    return f"{start}:{stop}" if step == 1 else f"{start}:{stop}:{step}"
