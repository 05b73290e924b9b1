"""The .tx model language: parse with lark, lower to the Python builder (tc.tensor).

Lowering builds ordinary builder Variables, so the .tx language and the
Python API share one definition of every op and of dtype promotion. What
compiles the result (and creates shared buffers) is the facade's business:
see `tc.compile_file`.
"""

from .errors import SourceFile, SourceFileError, TxError, TxShapeError, TxTypeError
from .parser import parse_tree

__all__ = ["SourceFile", "SourceFileError", "TxError", "TxShapeError", "TxTypeError", "parse_tree"]
