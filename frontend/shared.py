"""Shared variables in the graph: roots whose value lives in a runtime buffer.

The frontend never touches the buffer's memory: it holds the storage object
the facade created (anything with get/set/type/name) and forwards to it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from .graph import Variable


class SharedVariable(Variable):
    """Theano's shared variable: usable in expressions, updated by functions."""

    def __init__(self, container: Any, name: str | None = None) -> None:
        super().__init__(container.type, name=name)
        self.container = container
        # Theano's default_update: applied by every function that reads this
        # variable, unless the function updates it itself or opts out.
        self.default_update: Variable | None = None

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> np.ndarray:
        """A copy of the current value (the internal buffer itself with borrow=True).
        `return_internal_type` (Theano's) changes nothing: the value is a numpy array."""
        return self.container.get(borrow)

    def set_value(self, value: Any, borrow: bool = False) -> None:
        """Replace the value (same dtype and rank); copied unless borrow=True."""
        self.container.set(value, borrow)

    def __copy__(self) -> SharedVariable:
        return self.__deepcopy__({})

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedVariable:
        clone = SharedVariable(copy.deepcopy(self.container, memo), self.name)
        clone.location = self.location
        return clone

    def __str__(self) -> str:
        return self.name if self.name is not None else f"<shared {self.type}>"

    __repr__ = __str__


def shared_roots(variables: Sequence[Variable]) -> list[SharedVariable]:
    """The shared variables the given variables are computed from, in first-seen order."""
    found: dict[SharedVariable, None] = {}
    seen: set[int] = set()
    stack = list(reversed(variables))
    while stack:
        variable = stack.pop()
        if id(variable) in seen:
            continue
        seen.add(id(variable))
        if isinstance(variable, SharedVariable):
            found[variable] = None
        elif variable.owner is not None:
            stack.extend(reversed(variable.owner.inputs))
    return list(found)
