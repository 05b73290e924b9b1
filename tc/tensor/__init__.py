"""`from tc import tensor as T`: Theano's symbolic tensor API (see frontend/tensor.py)."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING

# Shapes and constructors (slicing itself is Variable.__getitem__).
from ..frontend.advanced_indexing import take  # noqa: F401
from ..frontend.compat import PLURALS, join, specify_shape, xlogx_module  # noqa: F401
from ..frontend.constructors import alloc, arange, fill, ones, ones_like, second, zeros, zeros_like  # noqa: F401
from ..frontend.generated import NAMESPACES
from ..frontend.gradient import Lop, Rop, disconnected_grad, zero_grad  # noqa: F401
from ..frontend.linalg import tensordot  # noqa: F401
from ..frontend.shape_ops import concatenate, flatten, inc_subtensor, reshape, set_subtensor, stack  # noqa: F401
from ..frontend.tensor import *  # noqa: F403
from ..frontend.tensor import __all__ as _tensor_all
from . import shared_randomstreams  # noqa: E402,F401  (T.shared_randomstreams, as Theano's)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..frontend.graph import Variable

_SHAPES = ["alloc", "arange", "fill", "ones", "ones_like", "second", "zeros", "zeros_like"]
_SHAPES += ["concatenate", "flatten", "inc_subtensor", "reshape", "set_subtensor", "stack"]
_SHAPES += ["take"]
__all__ = [*_tensor_all, *(name for name in _SHAPES if name not in _tensor_all)]

# Theano's plural constructors (T.dmatrices("a", "b")), gradient operators and xlogx namespace.
globals().update(PLURALS)
xlogx = xlogx_module
sys.modules.setdefault(f"{__name__}.xlogx", xlogx_module)
__all__ += [*sorted(PLURALS), "Lop", "Rop", "disconnected_grad", "join", "specify_shape", "tensordot"]
__all__ += ["xlogx", "zero_grad"]

# The generated namespaces import as modules too (`from tc.tensor.extra_ops import cumsum`).
for _name, _module in NAMESPACES.items():
    sys.modules.setdefault(f"{__name__}.{_name}", _module)


# Convolution and pooling (frontend/conv.py) where Theano keeps them: `T.nnet.conv2d`,
# `tc.tensor.nnet.conv.conv2d` and `from tc.tensor.signal import pool; pool.pool_2d(...)`.
from ..frontend import conv as _conv  # noqa: E402
from ..frontend import nnet as _nnet  # noqa: E402

signal = ModuleType(f"{__name__}.signal", "Theano's `theano.tensor.signal`: `pool`.")
signal.pool = ModuleType(f"{__name__}.signal.pool", "Theano's `theano.tensor.signal.pool`: `pool_2d`.")  # type: ignore[attr-defined]
signal.pool.pool_2d = _conv.pool_2d  # type: ignore[attr-defined]
signal.pool.__all__ = ["pool_2d"]  # type: ignore[attr-defined]
signal.__all__ = ["pool"]  # type: ignore[attr-defined]
for _name, _module in (
    ("nnet", _nnet),
    ("nnet.conv", _conv),
    ("signal", signal),
    ("signal.pool", signal.pool),  # type: ignore[attr-defined]
):
    sys.modules.setdefault(f"{__name__}.{_name}", _module)


def __getattr__(name: str) -> Callable[..., Variable]:
    # Called only for a name not found: it tells static checkers that the generated
    # elementwise builders (T.sin, T.hypot, ...; see frontend/elemwise.py) exist.
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
