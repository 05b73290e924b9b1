"""The results of a scan with `until`: one row per step run, a number known once the loop ran.

Every other size is planned before the call (ir/shapes.py), so such results are `tx.head`s
of the scan's full n-row results (ir/ops/head.py): a function may return them (the caller
cuts them to length), and `values[k]` with one integer index reads row k of the full result,
counted from the end (k < 0) from the number of steps run, as Theano's `values[-1]`; a row
the scan did not run is an index error, reported at the full result's length.
Computing with the rows otherwise is refused when the function is compiled.
"""

from __future__ import annotations

from typing import Any

from ..ir.dtypes import DType
from ..ir.errors import TcTypeError
from ..ir.ops.head import Head
from .graph import Apply, Variable, as_tensor_variable, cast_to, located


def head_rows(full: Variable, count: Variable) -> Variable:
    """The first `count` rows of `full` (the scan's result of n rows)."""
    rows = Variable(Head.infer_types([full.type, count.type], {})[0], location=full.location)
    Apply(Head, [full, count], {}, [rows], full.location)
    return rows


def is_head(x: Variable) -> bool:
    return x.owner is not None and x.owner.op_class is Head


def index_head(x: Variable, key: Any) -> Variable:
    """`values[k]`: row k of the rows the scan ran (k < 0: counted back from the last one)."""
    from .elemwise import GENERATED, switch

    full, count = x.owner.inputs  # type: ignore[union-attr]
    index = as_tensor_variable(key) if not isinstance(key, (tuple, slice)) else None
    if index is None or index.ndim != 0 or not index.type.dtype.is_integer:
        raise TcTypeError(
            located(
                f"the results of a scan with until (one row per step run) take one integer index "
                f"(values[-1]), found {key!r}; return them from the function to use them whole"
            )
        )
    index = cast_to(index, DType.I64)
    row = switch(GENERATED["lt"](index, 0), count + index, index)
    # Rows from `count` on were never written: an index there (or before the first row) reads
    # row n instead, one past the full result, which the gather reports as out of bounds.
    inside = GENERATED["and_"](GENERATED["ge"](row, 0), GENERATED["lt"](row, count))
    return full[switch(inside, row, full.shape[0])]
