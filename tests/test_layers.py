"""The import graph follows the layer table of docs/design.md.

Every module of the package is parsed with `ast` (nothing is imported), so a
violation is reported even in code no test runs. Every import counts for the
layer rules: module-level, function-level and `if TYPE_CHECKING:` ones, absolute
and relative. `from . import x` names the submodule `x` when there is one, and
the package itself otherwise.

The cycle check inside `frontend/` looks only at the imports that run when a
module is imported: function-level (lazy) imports and `if TYPE_CHECKING:` ones
are left out, since they run after every module involved is complete. Nor does
it count the implicit import of a module's parent package.

Source folders are mapped to packages through `[tool.setuptools] package-dir`
in pyproject.toml, the same mapping the install uses.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]

# Each layer and the layers it may import (its own always included).
FACADE = "facade"
LAYERS = {
    "tc.ir": "ir",
    "tc.passes": "passes",
    "tc.frontend": "frontend",
    "tc.codegen_llvm": "codegen_llvm",
    "tc.codegen_ptx": "codegen_ptx",
    "tc.runtime": "runtime",
    "tc.tools": "tools",
}
EVERYTHING = {*LAYERS.values(), FACADE}
MAY_IMPORT = {
    "ir": {"ir"},
    "passes": {"ir"},
    "frontend": {"ir", "passes"},
    "codegen_llvm": {"ir"},
    "codegen_ptx": {"ir"},
    "runtime": {"ir"},
    "tools": EVERYTHING,
    FACADE: EVERYTHING,
}
# Single modules a layer may import from a layer it otherwise may not.
MAY_ALSO_IMPORT = {
    # The target-neutral part of the LLVM backend is shared, never the reverse: the scalar-body
    # emitter, the dtype <-> LLVM type mapping, Philox's element function, the LLVM pipeline
    # and tc's binding of LLVM's C functions, the Target protocol with the modules that remember
    # their target, the LLVM IR builder, and a module's text.
    "codegen_ptx": {
        "tc.codegen_llvm.llvm_ir",
        "tc.codegen_llvm.target",
        "tc.codegen_llvm.scalar",
        "tc.codegen_llvm.kernel_body",
        "tc.codegen_llvm.types",
        "tc.codegen_llvm.control",
        "tc.codegen_llvm.random",
        "tc.codegen_llvm.jit",
        "tc.codegen_llvm.llvm_c",
        "tc.codegen_llvm.module_text",
    },
}

# Known debts: (importing file, imported module) pairs that break a rule today, each with why
# it is not fixed yet. Keep it short; an entry that no longer matches an import fails the test.
ALLOWED_VIOLATIONS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    """One import statement's dependency on one module of the package."""

    module: str  # the importing module, `tc.frontend.graph`
    path: str  # its file relative to the repository root, `frontend/graph.py`
    line: int
    text: str  # the statement as written
    target: str  # the module it depends on, `tc.frontend.elemwise`
    runs_on_import: bool  # module level and not under `if TYPE_CHECKING:`


def package_folders() -> dict[str, Path]:
    """Each package of the install and its source folder, as setuptools maps them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_dir: dict[str, str] = config["package-dir"]
    folders = {}
    for package in config["packages"]:
        # setuptools: the longest mapped prefix, then the rest of the name as folders.
        prefix = max((p for p in package_dir if package == p or package.startswith(p + ".")), key=len)
        rest = package[len(prefix) :].lstrip(".").split(".") if package != prefix else []
        folders[package] = ROOT.joinpath(package_dir[prefix], *rest)
    return folders


def modules() -> dict[str, Path]:
    """Every module of the install (`tc.frontend` for a package's `__init__.py`) and its file."""
    found = {}
    for package, folder in package_folders().items():
        for path in sorted(folder.glob("*.py")):
            found[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return found


def layer_of(module: str) -> str:
    for package, layer in LAYERS.items():
        if module == package or module.startswith(package + "."):
            return layer
    return FACADE


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, runs_on_import: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import below `node`, and whether it runs when the module is imported."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, runs_on_import
        lazy = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if _is_type_checking(child):
            # Only the `if` body is skipped at run time; an `else:` branch runs.
            for statement in child.body:  # type: ignore[attr-defined]
                if isinstance(statement, (ast.Import, ast.ImportFrom)):
                    yield statement, False
                yield from _walk(statement, False)
            for statement in child.orelse:  # type: ignore[attr-defined]
                if isinstance(statement, (ast.Import, ast.ImportFrom)):
                    yield statement, runs_on_import
                yield from _walk(statement, runs_on_import)
        else:
            yield from _walk(child, runs_on_import and not lazy)


def imports(known: dict[str, Path]) -> list[Import]:
    """Every dependency of every module on a module of the package."""
    found = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        package = module if path.stem == "__init__" else module.rpartition(".")[0]
        relative = str(path.relative_to(ROOT))
        for node, runs_on_import in _walk(tree, True):
            text = ast.unparse(node)
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    source = ".".join([*base, node.module] if node.module else base)
                else:
                    source = node.module or ""
                # `from package import name` depends on the submodule `name` when there is one.
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                    for alias in node.names
                ]
            for target in dict.fromkeys(targets):
                if target == "tc" or target.startswith("tc."):
                    found.append(Import(module, relative, node.lineno, text, target, runs_on_import))
    return found


@pytest.fixture(scope="module")
def known_modules() -> dict[str, Path]:
    found = modules()
    assert "tc.frontend.graph" in found and "tc.ir.core" in found, sorted(found)
    return found


@pytest.fixture(scope="module")
def all_imports(known_modules: dict[str, Path]) -> list[Import]:
    return imports(known_modules)


def _breaks_rule(imported: Import) -> str | None:
    """The rule `imported` breaks, or None."""
    source, target = layer_of(imported.module), layer_of(imported.target)
    if source == target or target in MAY_IMPORT[source]:
        return None
    for allowed in MAY_ALSO_IMPORT.get(source, ()):
        if imported.target == allowed or imported.target.startswith(allowed + "."):
            return None
    may = sorted(MAY_IMPORT[source] - {source}) + sorted(MAY_ALSO_IMPORT.get(source, ()))
    return f"{source}/ may import only {', '.join(may) or 'nothing of tc'}, not {target}"


def test_imports_follow_the_layer_table(all_imports: list[Import]) -> None:
    violations = []
    for imported in all_imports:
        rule = _breaks_rule(imported)
        if rule is not None and (imported.path, imported.target) not in ALLOWED_VIOLATIONS:
            violations.append(
                f"{imported.path}:{imported.line}: `{imported.text}` ({imported.target}): {rule}"
            )
    assert not violations, "imports that break docs/design.md's layer table:\n" + "\n".join(violations)


def test_every_allowed_violation_is_still_needed(all_imports: list[Import]) -> None:
    """A debt that was paid leaves the allow-list, so the list never hides a new import."""
    breaking = {(i.path, i.target) for i in all_imports if _breaks_rule(i) is not None}
    stale = sorted(set(ALLOWED_VIOLATIONS) - breaking)
    assert not stale, f"no longer violations, remove them from ALLOWED_VIOLATIONS: {stale}"


def test_frontend_modules_import_each_other_without_a_cycle(all_imports: list[Import]) -> None:
    graph = nx.DiGraph()
    for imported in all_imports:
        inside = layer_of(imported.module) == layer_of(imported.target) == "frontend"
        if inside and imported.runs_on_import and imported.module != imported.target:
            graph.add_edge(imported.module, imported.target, where=f"{imported.path}:{imported.line}")
    if not nx.is_directed_acyclic_graph(graph):
        cycle = nx.find_cycle(graph)
        steps = [f"{a} -> {b}  ({graph.edges[a, b]['where']})" for a, b in cycle]
        pytest.fail("an import cycle among frontend/ modules:\n" + "\n".join(steps))


def test_relative_imports_resolve_to_the_right_module(known_modules: dict[str, Path]) -> None:
    """The resolver itself: `from . import x`, `from .. import x`, `from .x import y`."""
    targets = {(i.text, i.target) for i in imports(known_modules) if i.module == "tc.frontend.tx.expressions"}
    assert ("from .. import tensor as T", "tc.frontend.tensor") in targets
    assert ("from ..graph import Constant, Variable", "tc.frontend.graph") in targets
    assert any(target == "tc.ir.core" for _, target in targets)
    init = {(i.text, i.target) for i in imports(known_modules) if i.module == "tc.frontend"}
    assert ("from .config import Config, config", "tc.frontend.config") in init


@pytest.mark.parametrize(
    ("module", "target", "breaks"),
    [
        ("tc.runtime.function", "tc.codegen_llvm.lower", True),
        ("tc.passes.fuse", "tc.frontend.graph", True),
        ("tc.ir.core", "tc", True),
        ("tc.codegen_llvm.scalar", "tc.codegen_ptx.kernel", True),
        ("tc.codegen_ptx.kernel", "tc.codegen_llvm.loops", True),
        ("tc.codegen_ptx.kernel", "tc.codegen_llvm.scalar", False),
        ("tc.frontend.gradient", "tc.passes", False),
        ("tc.tensor", "tc.frontend.tensor", False),
        ("tc.tools.cli", "tc.compile", False),
    ],
)
def test_the_rules_themselves(module: str, target: str, breaks: bool) -> None:
    imported = Import(module, "x.py", 1, f"import {target}", target, True)
    assert (_breaks_rule(imported) is not None) is breaks
