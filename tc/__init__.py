"""tc: a tensor compiler in the spirit of Theano.

    from tc import tensor as T, function
    x = T.dscalar("x")
    f = function([x], T.sin(x) ** 2)

The public API lives here; the stages behind it are tc.frontend, tc.ir,
tc.passes, tc.codegen_llvm, tc.codegen_ptx, tc.runtime and tc.tools.
"""

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
from . import compat, datasets, gradient, ifelse, printing, sandbox, scalar, scan_module, tensor  # noqa: F401
from .compile import function, shared
from .datasets import TcDataError
from .frontend.scan import scan
from .gradient import grad
from .inputs import In
from .mode import Mode
from .printing import pp
from .tiering import finish_compiling

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """`tc.load` and `tc.compile_file` import the artifact machinery (and the .tx parser) only
    when first used, so that `import tc` stays light."""
    if name in ("compile_file", "load"):
        from . import artifact

        return getattr(artifact, name)
    raise AttributeError(f"module 'tc' has no attribute {name!r}")


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
