"""Reading a `tc compile` artifact's manifest and checking what it names.

The checks `tc.load` makes before it links anything in: the manifest's format
and version, the target it was compiled for, every file it names staying
inside the artifact directory, the object's hash, and the shared values' types.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .codegen_llvm.target import HostTarget, host_target
from .compile import shared
from .frontend.shared import SharedVariable
from .ir import Module, TcValueError

FORMAT = "tc-artifact"
FORMAT_VERSION = 3  # 2: the IR the shape plans come from ("tir-planned"); 3: BLAS integers in 64 bits


class ArtifactError(TcValueError):
    """A missing, corrupt or incompatible artifact."""


def read_manifest(directory: Path) -> dict[str, Any]:
    """An artifact's manifest, checked for its format and version."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        what = "does not exist" if not directory.exists() else "has no manifest.json"
        raise ArtifactError(
            f"'{directory}' is not a tc artifact: it {what} "
            f"(write one with `tc compile model.tx -o {directory}`)"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(f"'{manifest_path}' is unreadable or not JSON: {err}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"'{manifest_path}' is not a tc artifact manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"'{directory}' has artifact format version {manifest.get('format_version')}; this tc "
            f"{tc_version()} reads version {FORMAT_VERSION}: compile the model again"
        )
    return manifest


def check_target(directory: Path, target: dict[str, Any]) -> None:
    if target.get("kind") != "cpu":
        raise ArtifactError(
            f"'{directory}' was compiled for {target.get('kind')}; this tc loads cpu artifacts"
        )
    host = host_target()
    built = HostTarget(target["triple"], target["cpu"], target["features"])
    if built.triple.split("-")[0] != host.triple.split("-")[0]:
        raise ArtifactError(f"'{directory}' was compiled for {built.triple}; this machine is {host.triple}")
    missing = sorted(built.enabled_features() - host.enabled_features())
    if missing:
        raise ArtifactError(
            f"'{directory}' was compiled for CPU {built.cpu} and uses features this CPU ({host.cpu}) "
            f"lacks: {', '.join(missing[:8])}; compile the model again on this machine"
        )


def _inside(directory: Path, relative: object, field: str) -> Path:
    """`directory / relative`, or ArtifactError naming the manifest's `field` when that
    path would leave the artifact (absolute, `..`, or a link to elsewhere)."""
    if not isinstance(relative, str) or not relative:
        raise ArtifactError(
            f"'{directory}/manifest.json': {field} must be a relative path, found {relative!r}"
        )
    path = directory / relative
    root = directory.resolve()
    if os.path.isabs(relative) or not path.resolve().is_relative_to(root):
        raise ArtifactError(
            f"'{directory}/manifest.json': {field} = {relative!r} is outside the artifact directory"
        )
    return path


def read_object(directory: Path, entry: dict[str, Any]) -> bytes:
    path = _inside(directory, entry["file"], "object.file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ArtifactError(
            f"'{directory}' is incomplete: cannot read {entry['file']}: {err.strerror}"
        ) from err
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ArtifactError(
            f"'{directory}' is corrupt: {entry['file']} does not match its hash in manifest.json"
        )
    return data


def read_global(directory: Path, entry: dict[str, Any], module: Module) -> SharedVariable:
    name = entry["name"]
    path = _inside(directory, entry["file"], f"globals[{name!r}].file")
    try:
        value = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ArtifactError(
            f"'{directory}': cannot read the value of '{name}' ({entry['file']}): {err}"
        ) from err
    declared = next((g.type for g in module.globals if g.name == name), None)
    if declared is None or value.dtype != declared.dtype.numpy or value.ndim != declared.rank:
        raise ArtifactError(
            f"'{directory}': the value of '{name}' ({value.dtype}{list(value.shape)}) is not a {declared}"
        )
    return shared(value, name)


def tc_version() -> str:
    from . import __version__

    return __version__
