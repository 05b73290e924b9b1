"""The Theano-style Python builder: symbolic Variables lowered to an IR module.

Imports only `tc.ir` (and numpy); it knows nothing of passes' internals or
machine code. The user-facing names live in `tensor.py` (`tc.tensor`).
"""

from .config import Config, config
from .debugprint import debugprint
from .graph import Apply, Constant, Variable, as_tensor_variable, constant
from .lower import MissingInputError, build_function_ir

__all__ = [
    "Apply",
    "Config",
    "Constant",
    "MissingInputError",
    "Variable",
    "as_tensor_variable",
    "build_function_ir",
    "config",
    "constant",
    "debugprint",
]
