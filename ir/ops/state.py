"""Module state: reading and updating globals (shared variables), and givens.

```
%0 = tx.load @state : tensor<i64>
tx.store @state, %2 : tensor<i64>
tx.given %old, %new : tensor<?xf64>, tensor<?xf64>
```

A load sees the value from before the call; every store takes effect after
all of the function's results are computed, and only if the call succeeds
(Theano's updates). `tx.given` is a request for the `substitute-givens` pass
to replace every use of `%old` by `%new`; no backend ever sees one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..attributes import Attribute, SymbolRef, attr, symbol_name
from ..core import PURE, Operation, Region
from ..errors import TcTypeError, TcVerificationError
from ..types import TensorType


class GlobalAccess(Operation):
    """Base of the ops that name a global (`tx.load @W`, `tx.store @W, %v`)."""

    symbol = attr(SymbolRef, key="global", convert=symbol_name)
    inline_symbol = "global"


class Load(GlobalAccess):
    name = "tx.load"
    traits = frozenset({PURE})
    arity = 0

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        raise TcVerificationError("tx.load is evaluated by the interpreter, which holds the state")


class Store(GlobalAccess):
    name = "tx.store"
    arity = 1

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        return []


class Given(Operation):
    name = "tx.given"
    arity = 2

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        old, new = operand_types
        if old.dtype != new.dtype or old.rank != new.rank:
            raise TcTypeError(f"a given must keep the type: replacing {old} by {new}")
        return []
