"""Run compiled code: function objects, argument conversion (later: shared buffers, RNG).

Imports tc.ir only; it is handed native code by the facade.
"""

from .function import CompiledFunction, InputSpec

__all__ = ["CompiledFunction", "InputSpec"]
