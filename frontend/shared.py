"""Shared variables in the graph: roots whose value lives in a runtime buffer.

The frontend never touches the buffer's memory: it holds the storage object
the facade created (anything with get/set/type/name) and forwards to it.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from .graph import Variable


class SharedVariable(Variable):
    """Theano's shared variable: usable in expressions, updated by functions."""

    def __init__(self, container: Any, name: str | None = None) -> None:
        super().__init__(container.type, name=name)
        self.container = container

    def get_value(self, borrow: bool = False) -> np.ndarray:
        """A copy of the current value (the internal buffer itself with borrow=True)."""
        return self.container.get(borrow)

    def set_value(self, value: Any, borrow: bool = False) -> None:
        """Replace the value (same dtype and rank); copied unless borrow=True."""
        self.container.set(value, borrow)

    @property
    def shape(self) -> tuple[int, ...]:
        """The current value's shape (Theano's `.shape` is symbolic; this is the concrete one)."""
        return tuple(self.container.get(borrow=True).shape)

    def __copy__(self) -> SharedVariable:
        return self.__deepcopy__({})

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedVariable:
        clone = SharedVariable(copy.deepcopy(self.container, memo), self.name)
        clone.location = self.location
        return clone

    def __str__(self) -> str:
        return self.name if self.name is not None else f"<shared {self.type}>"

    __repr__ = __str__
