"""`from tc import tensor as T`: Theano's symbolic tensor API (see frontend/tensor.py)."""

# Shapes and constructors (slicing itself is Variable.__getitem__).
from ..frontend.advanced_indexing import take  # noqa: F401
from ..frontend.constructors import alloc, arange, fill, ones, ones_like, second, zeros, zeros_like  # noqa: F401
from ..frontend.shape_ops import concatenate, flatten, inc_subtensor, reshape, set_subtensor, stack  # noqa: F401
from ..frontend.tensor import *  # noqa: F403
from ..frontend.tensor import __all__ as _tensor_all

_SHAPES = ["alloc", "arange", "fill", "ones", "ones_like", "second", "zeros", "zeros_like"]
_SHAPES += ["concatenate", "flatten", "inc_subtensor", "reshape", "set_subtensor", "stack"]
_SHAPES += ["take"]
__all__ = [*_tensor_all, *(name for name in _SHAPES if name not in _tensor_all)]
