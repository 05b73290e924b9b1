"""`from tc import tensor as T`: Theano's symbolic tensor API (see frontend/tensor.py)."""

from ..frontend.tensor import *  # noqa: F403
from ..frontend.tensor import __all__  # noqa: F401
