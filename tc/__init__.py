"""tc: a tensor compiler in the spirit of Theano.

    from tc import tensor as T, function
    x = T.dscalar("x")
    f = function([x], T.sin(x) ** 2)

The public API lives here; the stages behind it are tc.frontend, tc.ir,
tc.passes, tc.codegen_llvm, tc.codegen_ptx, tc.runtime and tc.tools.
"""

import importlib

from tc.frontend.config import config
from tc.ir.errors import (
    TcCompilationError,
    TcDeviceError,
    TcError,
    TcGradientError,
    TcIndexError,
    TcMemoryError,
    TcParseError,
    TcShapeError,
    TcTypeError,
    TcValueError,
    TcVerificationError,
)

# compat, imported for its effect, gives Variable.eval the compiler.
from . import compat, gradient, ifelse, scalar, tensor  # noqa: F401
from .compile import function, shared
from .gradient import grad
from .inputs import In
from .mode import Mode
from .tiering import finish_compiling

__version__ = "0.1.0"


# Names whose modules load when first used, so that `import tc` stays light: the artifact
# machinery (and the .tx parser), scan, the printers, the datasets and the sandbox.
_LAZY_NAMES = {
    "compile_file": "artifact",
    "load": "artifact",
    "scan": "frontend.scan",
    "pp": "printing",
    "TcDataError": "datasets",
}
_LAZY_MODULES = ("datasets", "printing", "sandbox", "scan_module")


def __getattr__(name: str) -> object:
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY_NAMES[name]}"), name)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tc' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The names loaded when first used too (tab completion lists `tc.scan` before its use)."""
    return sorted({*globals(), *_LAZY_NAMES, *_LAZY_MODULES})


DeviceError = TcDeviceError  # the name the GPU documentation uses

__all__ = [
    "DeviceError",
    "In",
    "Mode",
    "TcCompilationError",
    "TcDataError",
    "TcDeviceError",
    "TcError",
    "TcGradientError",
    "TcIndexError",
    "TcMemoryError",
    "TcParseError",
    "TcShapeError",
    "TcTypeError",
    "TcValueError",
    "TcVerificationError",
    "__version__",
    "compile_file",
    "config",
    "datasets",
    "finish_compiling",
    "function",
    "grad",
    "gradient",
    "ifelse",
    "load",
    "pp",
    "printing",
    "scalar",
    "scan",
    "sandbox",
    "scan_module",
    "shared",
    "tensor",
]
