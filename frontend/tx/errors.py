"""Errors in .tx sources: `model.tx:LINE:COL: error: ...`, the source line and a caret.

Every error found in a .tx file is a `TxError` (a `TcParseError`) that
carries the file, line and column, so tools can read them and people can see
them. Errors that are really about types or shapes also derive from
`TcTypeError` / `TcShapeError`, so `except TcTypeError` keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...ir.core import Location
from ...ir.errors import TcError, TcParseError, TcShapeError, TcTypeError


@dataclass(frozen=True)
class SourceFile:
    """A .tx file's text and the name errors and locations use for it."""

    name: str  # as the user spelled it, e.g. "examples/tutorial.tx"
    text: str
    directory: Path  # where relative .npy paths are looked up

    def line(self, number: int) -> str:
        # Lines as the parser counts them: only "\n" ends one (not \f, \v or U+2028).
        lines = self.text.split("\n")
        return lines[number - 1].rstrip("\r") if 0 < number <= len(lines) else ""

    def location(self, line: int, column: int) -> Location:
        return Location(self.name, line, column)

    @classmethod
    def from_bytes(cls, name: str, data: bytes, directory: Path) -> SourceFile:
        """The file whose bytes are `data`; a byte that is not UTF-8 is a TxError at its position."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise _not_utf8(cls(name, data.decode("utf-8", errors="replace"), directory), data, err) from None
        # Universal newlines, as reading in text mode would give.
        return cls(name, text.replace("\r\n", "\n").replace("\r", "\n"), directory)


class TxError(TcParseError):
    """An error at a position of a .tx file. `str()` gives the three-line report."""

    def __init__(self, source: SourceFile, line: int, column: int, message: str, width: int = 1) -> None:
        self.file = source.name
        self.line = line
        self.column = column
        self.message = message
        self.source_line = source.line(line)
        super().__init__(format_report(source.name, line, column, message, self.source_line, width))


def _not_utf8(shown: SourceFile, data: bytes, err: UnicodeDecodeError) -> TxError:
    before = data[: err.start]
    line = before.count(b"\n") + 1
    column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")) + 1
    message = f"the file is not UTF-8 text (byte 0x{data[err.start]:02x}: {err.reason})"
    return TxError(shown, line, column, message)


class TxErrors(TxError):
    """Errors in several functions of one file: every report, in file order (the position
    attributes are the first one's)."""

    def __init__(self, errors: list[TxError]) -> None:
        first = errors[0]
        self.errors = errors
        self.file, self.line, self.column = first.file, first.line, first.column
        self.message, self.source_line = first.message, first.source_line
        reports = "\n".join(str(e) for e in errors)
        TcParseError.__init__(self, f"{reports}\n{len(errors)} errors in {first.file}")


class TxTypeError(TxError, TcTypeError):
    """A wrong dtype, rank or argument in a .tx file."""


class TxShapeError(TxError, TcShapeError):
    """Shapes that do not match in a .tx file."""


class SourceFileError(TcError, OSError):
    """A .tx file that cannot be read."""


def format_report(file: str, line: int, column: int, message: str, source_line: str, width: int = 1) -> str:
    """clang's layout: `file:line:col: error: message`, the line, a caret under the token."""
    if not source_line:
        return f"{file}:{line}:{column}: error: {message}"
    # Keep tabs in the caret's indentation so that it lines up under the token.
    indent = "".join(c if c == "\t" else " " for c in source_line[: max(column - 1, 0)])
    width = max(1, min(width, len(source_line) - column + 1))
    return f"{file}:{line}:{column}: error: {message}\n{source_line}\n{indent}^{'~' * (width - 1)}"


def error_class_for(err: TcError) -> type[TxError]:
    """The located error class that keeps `err`'s kind (type, shape, or other)."""
    if isinstance(err, TcShapeError):
        return TxShapeError
    if isinstance(err, TcTypeError):
        return TxTypeError
    return TxError
