"""`from tc import tensor as T`: Theano's symbolic tensor API (see frontend/tensor.py)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

# Shapes and constructors (slicing itself is Variable.__getitem__).
from ..frontend.advanced_indexing import take  # noqa: F401
from ..frontend.constructors import alloc, arange, fill, ones, ones_like, second, zeros, zeros_like  # noqa: F401
from ..frontend.generated import NAMESPACES
from ..frontend.shape_ops import concatenate, flatten, inc_subtensor, reshape, set_subtensor, stack  # noqa: F401
from ..frontend.tensor import *  # noqa: F403
from ..frontend.tensor import __all__ as _tensor_all

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..frontend.graph import Variable

_SHAPES = ["alloc", "arange", "fill", "ones", "ones_like", "second", "zeros", "zeros_like"]
_SHAPES += ["concatenate", "flatten", "inc_subtensor", "reshape", "set_subtensor", "stack"]
_SHAPES += ["take"]
__all__ = [*_tensor_all, *(name for name in _SHAPES if name not in _tensor_all)]

# The generated namespaces import as modules too (`from tc.tensor.extra_ops import cumsum`).
for _name, _module in NAMESPACES.items():
    sys.modules.setdefault(f"{__name__}.{_name}", _module)


def __getattr__(name: str) -> Callable[..., Variable]:
    # Called only for a name not found: it tells static checkers that the generated
    # elementwise builders (T.sin, T.hypot, ...; see frontend/elemwise.py) exist.
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
