"""The error hierarchy shared by every stage of tc.

Each error is also an instance of the builtin exception a Python user would
expect (a wrong dtype is a TypeError, a wrong shape a ValueError), so code
written against numpy's exceptions keeps working.
"""

from __future__ import annotations


class TcError(Exception):
    """Base class of every error tc raises on purpose."""


class TcParseError(TcError, ValueError):
    """Malformed source text (IR or .tx); the message carries file:line:col."""


class TcTypeError(TcError, TypeError):
    """A dtype, rank or argument-count mismatch."""


class TcShapeError(TcError, ValueError):
    """Shapes that do not match or do not broadcast."""


class TcValueError(TcError, ValueError):
    """A value tc cannot represent or convert (e.g. a non-numeric argument)."""


class TcVerificationError(TcError, ValueError):
    """IR that breaks an invariant; the message names the op and the value."""


class TcCompilationError(TcError, RuntimeError):
    """The backend could not lower or compile a function."""


class TcDeviceError(TcError, RuntimeError):
    """A device (e.g. CUDA) is missing or failed."""


class TcIndexError(TcError, IndexError):
    """An index outside the axis it addresses (checked before any memory is touched)."""


class TcGradientError(TcError, ValueError):
    """A gradient that cannot be built: a non-differentiable op on the path, a
    disconnected input, or a cost that is not a float scalar."""


class TcMemoryError(TcError, MemoryError):
    """A buffer too large to allocate; the message names the op and the bytes asked for."""


class TcDeviceMemoryError(TcDeviceError, TcMemoryError):
    """The GPU ran out of memory: both a device error and a memory error."""
