"""`tc.load` keeps to the artifact directory and checks the object code before linking it.

An artifact is trusted like a module one imports (its code runs), but a damaged or
edited one must fail with an ArtifactError that says what is wrong, never read files
outside the artifact or crash the process. Cases that used to crash run in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tc
from tc.artifact import ArtifactError, compile_artifact
from tc.ir import TcError

TUTORIAL = Path(__file__).parents[2] / "examples" / "tutorial.tx"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_artifact(TUTORIAL, tmp_path_factory.mktemp("artifact") / "tutorial")


@pytest.fixture
def artifact(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "artifact"))


def edit_manifest(path: Path, change: Callable[[dict], None]) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


def set_global_file(name: str, file: object) -> Callable[[dict], None]:
    def change(manifest: dict) -> None:
        next(g for g in manifest["globals"] if g["name"] == name)["file"] = file

    return change


def test_the_error_is_a_tc_error() -> None:
    assert issubclass(ArtifactError, TcError)


def test_an_absolute_object_file_is_refused(artifact: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.o"
    shutil.copy(artifact / "code.o", elsewhere)  # a valid object: only its place is wrong
    edit_manifest(artifact, lambda m: m["object"].update(file=str(elsewhere)))
    with pytest.raises(ArtifactError, match=r"object\.file .* is outside the artifact directory"):
        tc.load(artifact)


def test_an_object_file_above_the_artifact_is_refused(artifact: Path, tmp_path: Path) -> None:
    shutil.copy(artifact / "code.o", tmp_path / "up.o")
    edit_manifest(artifact, lambda m: m["object"].update(file="../up.o"))
    with pytest.raises(ArtifactError, match=r"object\.file = '\.\./up\.o' is outside"):
        tc.load(artifact)


@pytest.mark.parametrize("file", ["../secret.npy", "shared/../../secret.npy", "ABSOLUTE"])
def test_a_global_file_outside_the_artifact_is_refused(artifact: Path, tmp_path: Path, file: str) -> None:
    secret = tmp_path / "secret.npy"
    np.save(secret, np.int64(42))  # of the right type: it would load today
    file = str(secret) if file == "ABSOLUTE" else file
    edit_manifest(artifact, set_global_file("state", file))
    with pytest.raises(ArtifactError, match=r"globals\['state'\]\.file .* is outside the artifact directory"):
        tc.load(artifact)


def test_a_link_out_of_the_artifact_is_refused(artifact: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.npy"
    np.save(secret, np.int64(42))
    (artifact / "shared" / "state.npy").unlink()
    (artifact / "shared" / "state.npy").symlink_to(secret)
    with pytest.raises(ArtifactError, match=r"globals\['state'\]\.file = 'shared/state\.npy' is outside"):
        tc.load(artifact)


@pytest.mark.parametrize("file", [5, None, "", ["code.o"]])
def test_a_file_that_is_not_a_path_is_refused(artifact: Path, file: object) -> None:
    edit_manifest(artifact, lambda m: m["object"].update(file=file))
    with pytest.raises(ArtifactError, match=r"object\.file must be a relative path"):
        tc.load(artifact)


def test_a_mistyped_manifest_field_is_an_artifact_error(artifact: Path) -> None:
    edit_manifest(artifact, lambda m: m.update(target=["cpu"]))
    with pytest.raises(ArtifactError, match="corrupt"):
        tc.load(artifact)


def test_paths_inside_the_artifact_still_load(artifact: Path) -> None:
    edit_manifest(artifact, set_global_file("state", "shared/./state.npy"))
    assert int(tc.load(artifact).accumulator(2)) == 0


# Rewrites code.o with DAMAGE, records its new hash in the manifest (so only the object's
# structure can tell), then loads the artifact: it must raise ArtifactError, not crash.
LOAD_DAMAGED = """
import hashlib, json, os, sys
from pathlib import Path
import tc
from tc.artifact import ArtifactError

directory = Path(sys.argv[1])
code = (directory / "code.o").read_bytes()
code = DAMAGE
(directory / "code.o").write_bytes(code)
manifest = json.loads((directory / "manifest.json").read_text())
manifest["object"].update(sha256=hashlib.sha256(code).hexdigest(), bytes=len(code))
(directory / "manifest.json").write_text(json.dumps(manifest))
try:
    tc.load(directory)
except ArtifactError as err:
    assert "code.o is not loadable" in str(err), err
    print("refused")
"""

DAMAGES = {
    "garbage": "os.urandom(len(code))",
    "zeros": "bytes(len(code))",
    "truncated": "code[: len(code) // 2]",
    "section-table-past-end": "code[:40] + (1 << 20).to_bytes(8, 'little') + code[48:]",
    "flipped": "bytes(b ^ 0xFF if i >= 64 and i % 97 == 0 else b for i, b in enumerate(code))",
    "no-entry-points": "code.replace(b'tc_accumulator', b'tc_accumulatoR')",
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_object_code_is_refused_not_run(artifact: Path, damage: str) -> None:
    script = LOAD_DAMAGED.replace("DAMAGE", DAMAGES[damage])
    done = subprocess.run(
        [sys.executable, "-c", script, str(artifact)],
        capture_output=True,
        text=True,
        env=dict(os.environ, TC_NUM_THREADS="1"),
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip() == "refused", (
        f"{damage}: exit status {done.returncode}\n{done.stderr[-3000:]}"
    )


def test_the_object_hash_is_still_checked(artifact: Path) -> None:
    code = (artifact / "code.o").read_bytes()
    (artifact / "code.o").write_bytes(code[:-1] + bytes([code[-1] ^ 1]))
    assert hashlib.sha256((artifact / "code.o").read_bytes()).hexdigest() != hashlib.sha256(code).hexdigest()
    with pytest.raises(ArtifactError, match="does not match its hash"):
        tc.load(artifact)


def test_load_documents_that_it_runs_code() -> None:
    assert "runs it" in (tc.load.__doc__ or "") and "trust" in (tc.load.__doc__ or "")
