"""Source files stay small enough to read: none over 20 KB, no function over 80 lines.

Every .py file of the package's source folders is measured in bytes, and every
function and method in it (nested ones included, decorators not counted) in
lines from its `def` to its last line, docstring and comments included. A file
or function over the limit is split by responsibility, not trimmed of comments.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("ir", "passes", "frontend", "codegen_llvm", "codegen_ptx", "runtime", "tc", "tools")
MAX_FILE_BYTES = 20_000
MAX_FUNCTION_LINES = 80

# Known offenders, each with why it is not fixed yet. Keep these short: an entry that no
# longer exceeds its limit fails `test_allowlists_are_current`, so remove it once fixed.
FILES_OVER_LIMIT: dict[str, str] = {}
# "path::qualified.name" of functions over the limit.
FUNCTIONS_OVER_LIMIT: dict[str, str] = {}


def _sources() -> Iterator[Path]:
    for folder in SOURCE_DIRS:
        yield from sorted((ROOT / folder).rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


Function = ast.FunctionDef | ast.AsyncFunctionDef


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, Function]]:
    """Every function in `tree` with its qualified name (`Class.method`, `outer.inner`)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def _large_files() -> dict[str, int]:
    return {_name(path): size for path in _sources() if (size := path.stat().st_size) > MAX_FILE_BYTES}


def _long_functions() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, node in _functions(tree):
            assert node.end_lineno is not None
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found[f"{_name(path)}::{name}"] = lines
    return found


def test_sources_are_found() -> None:
    names = {_name(path) for path in _sources()}
    assert "ir/parser.py" in names and "codegen_ptx/reduce.py" in names and "tc/artifact.py" in names


def test_no_file_over_20_kb() -> None:
    offenders = {name: size for name, size in _large_files().items() if name not in FILES_OVER_LIMIT}
    assert not offenders, (
        f"source files over {MAX_FILE_BYTES} bytes; split each by responsibility into modules "
        "of its own package (see docs/design.md for the layers):\n"
        + "\n".join(f"  {name}: {size} bytes" for name, size in sorted(offenders.items()))
    )


def test_no_function_over_80_lines() -> None:
    offenders = {name: n for name, n in _long_functions().items() if name not in FUNCTIONS_OVER_LIMIT}
    assert not offenders, (
        f"functions over {MAX_FUNCTION_LINES} lines (def to last line); split each into helpers:\n"
        + "\n".join(f"  {name}: {n} lines" for name, n in sorted(offenders.items()))
    )


def test_allowlists_are_current() -> None:
    stale = sorted(set(FILES_OVER_LIMIT) - set(_large_files()))
    stale += sorted(set(FUNCTIONS_OVER_LIMIT) - set(_long_functions()))
    assert not stale, (
        "these allowlist entries of tests/test_source_shape.py are within the limits now (or gone); "
        "remove them:\n" + "\n".join(f"  {name}" for name in stale)
    )
