"""tc's intermediate representation: the language every stage speaks.

Imports no other part of tc.
"""

from . import ops
from .attributes import DenseAttr, SymbolRef
from .core import (
    COMMUTATIVE,
    ELEMENTWISE,
    OP_REGISTRY,
    PURE,
    SAME_SHAPE,
    TERMINATOR,
    Block,
    BlockArgument,
    Function,
    Global,
    Location,
    Module,
    Operation,
    OpResult,
    Region,
    Value,
)
from .dtypes import DType
from .errors import (
    TcCompilationError,
    TcDeviceError,
    TcError,
    TcParseError,
    TcShapeError,
    TcTypeError,
    TcValueError,
    TcVerificationError,
)
from .interpreter import initial_state, run, run_function
from .parse_literals import parse_type
from .parser import parse_module
from .printer import print_function, print_module
from .types import TensorType, broadcast_shapes
from .verifier import verify_function, verify_module

__all__ = [
    "COMMUTATIVE",
    "ELEMENTWISE",
    "OP_REGISTRY",
    "PURE",
    "SAME_SHAPE",
    "TERMINATOR",
    "Block",
    "BlockArgument",
    "DType",
    "DenseAttr",
    "Function",
    "Global",
    "Location",
    "Module",
    "OpResult",
    "Operation",
    "Region",
    "SymbolRef",
    "TcCompilationError",
    "TcDeviceError",
    "TcError",
    "TcParseError",
    "TcShapeError",
    "TcTypeError",
    "TcValueError",
    "TcVerificationError",
    "TensorType",
    "Value",
    "broadcast_shapes",
    "initial_state",
    "ops",
    "parse_module",
    "parse_type",
    "print_function",
    "print_module",
    "run",
    "run_function",
    "verify_function",
    "verify_module",
]
