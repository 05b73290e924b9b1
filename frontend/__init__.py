"""The Theano-style Python builder: symbolic Variables lowered to an IR module.

Imports `tc.ir` and `tc.passes` (`T.grad` runs the grad pass), never codegen
or the runtime. The user-facing names live in `tensor.py` (`tc.tensor`).
"""

# Imported for its effect: it fills the table behind `x + y`, `x.sum()`, `x[i]`.
from . import variable_methods  # noqa: F401
from .config import Config, config
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
]
