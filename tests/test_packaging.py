"""The install maps every source package into the `tc` namespace (a non-editable
install only ships the packages pyproject.toml lists)."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_package_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = {Path(directory): name for name, directory in config["package-dir"].items()}
    declared = set(config["packages"])
    for init in ROOT.glob("**/__init__.py"):
        directory = init.parent.relative_to(ROOT)
        if directory.parts[0] in ("tests", "bench", "examples", "build") or directory.parts[0].startswith(
            "."
        ):
            continue
        name = mapping.get(directory)
        assert name is not None, f"{directory} has no entry in [tool.setuptools] package-dir"
        assert name in declared, f"{name} ({directory}) is missing from [tool.setuptools] packages"
