"""Parse .tx text (grammar.lark, LALR) into a lark tree; syntax errors become TxErrors.

A syntax error reads `model.tx:3:17: error: expected ')' or ',', found 'x'`,
with the source line and a caret under the offending token.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .errors import SourceFile, TxError

# Terminals that name a kind of token rather than spell one.
_TERMINAL_NAMES = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "$END": "end of file",
}
# Groups of terminals that read better as one phrase: when all of a group's key
# terminals may come next, its phrase replaces every terminal of the group.
_GROUPS: tuple[tuple[str, set[str], set[str]], ...] = (
    (
        "an expression",
        {"NAME", "INT", "FLOAT", "LSQB"},
        {"STRING", "TRUE", "FALSE", "TILDE", "LPAR", "PLUS", "MINUS"},
    ),
    ("an operator", {"STAR", "SLASH", "AMP"}, {"PLUS", "MINUS", "DSLASH", "PERCENT", "POW", "BAR", "CARET"}),
    ("an operator", {"PLUS", "AMP", "BAR"}, {"MINUS", "CARET"}),
    ("an operator", {"LT", "EQ", "NE"}, {"LE", "GT", "GE"}),
    ("a statement", {"LET", "UPDATE", "RETURN"}, set()),
    ("a declaration", {"FN", "SHARED", "RANDOM"}, set()),
)
_COMPARISONS = {"LT", "LE", "GT", "GE", "EQ", "NE"}
# Characters that are not .tx but that a Python or C habit types; what to write instead.
_HABITS = {
    "@": "'@' is not an operator in .tx: write a matrix product as dot(a, b)",
    ";": "';' is not needed: statements end at the line's end (write each on its own line)",
}


@lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    grammar = resources.files(__package__).joinpath("grammar.lark").read_text()
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def parse_tree(source: SourceFile) -> lark.Tree:
    """The syntax tree of `source`, or a TxError at the first syntax error."""
    try:
        return _lark().parse(source.text)
    except UnexpectedInput as err:
        raise _syntax_error(source, err) from None


def _syntax_error(source: SourceFile, err: UnexpectedInput) -> TxError:
    if isinstance(err, UnexpectedToken):
        token = err.token
        if token.type == "$END":
            line, column = _end_position(source)
            return TxError(source, line, column, f"expected {_expected(err.expected)}, found end of file")
        expected: set[str] = set(getattr(err, "accepts", None) or err.expected)
        message = f"expected {_expected(expected)}, found '{token}'"
        if token.type in _COMPARISONS and not expected & _COMPARISONS:
            message = "comparisons cannot be chained; combine them with &: (a < b) & (b < c)"
        return TxError(source, token.line, token.column, message, len(token))
    if isinstance(err, UnexpectedCharacters):
        position = err.pos_in_stream or 0
        char = source.text[position] if position < len(source.text) else ""
        if char in _HABITS:
            return TxError(source, err.line, err.column, _HABITS[char])
        what = f"'{char}'" if char.isprintable() else ascii(char)
        allowed = _expected(err.allowed) if err.allowed else "a token"
        return TxError(source, err.line, err.column, f"expected {allowed}, found {what}")
    if isinstance(err, UnexpectedEOF):
        line, column = _end_position(source)
        names = {str(name) for name in err.expected}
        return TxError(source, line, column, f"expected {_expected(names)}, found end of file")
    return TxError(source, getattr(err, "line", 1), getattr(err, "column", 1), str(err))


def _end_position(source: SourceFile) -> tuple[int, int]:
    lines = source.text.split("\n")  # as the parser counts lines
    # Point just past the last non-blank line: that is where something was missing.
    for number in range(len(lines), 0, -1):
        if lines[number - 1].strip():
            return number, len(lines[number - 1]) + 1
    return 1, 1


def _expected(names: set[str] | frozenset[str]) -> str:
    names = set(names) - {"COMMENT", "WS"}
    phrases: list[str] = []
    for phrase, key, rest in _GROUPS:
        if key <= names:
            names -= key | rest
            if phrase not in phrases:
                phrases.append(phrase)
    described = phrases + sorted(_describe_terminal(name) for name in names)
    if not described:
        return "a token"
    if len(described) == 1:
        return described[0]
    if len(described) <= 6:
        return f"{', '.join(described[:-1])} or {described[-1]}"
    return f"{', '.join(described[:5])}, ..."


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    try:
        pattern = _lark().get_terminal(name).pattern
    except KeyError:
        return name
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return name.lower()
