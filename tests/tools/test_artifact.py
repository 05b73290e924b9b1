"""Artifacts in process: what `tc compile` writes, and how `tc.load` refuses a bad one."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tc
from tc.artifact import ArtifactError, compile_artifact

TUTORIAL = Path(__file__).parents[2] / "examples" / "tutorial.tx"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_artifact(TUTORIAL, tmp_path_factory.mktemp("artifact") / "tutorial")


def copy(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "copy"))


def edit_manifest(path: Path, change: Callable[[dict], None]) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_manifest_describes_the_module(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["format_version"] == 3 and manifest["tc_version"] == tc.__version__
    functions = {f["name"]: f for f in manifest["functions"]}
    assert functions["accumulator"]["inputs"] == [{"name": "inc", "type": "tensor<i32>"}]
    assert functions["accumulator"]["outputs"] == ["tensor<i64>"]
    assert functions["accumulator"]["symbol"] == "tc_accumulator"
    assert functions["accumulator"]["globals"] == ["state"]
    state = next(g for g in manifest["globals"] if g["name"] == "state")
    assert state == {
        "name": "state",
        "type": "tensor<i64>",
        "dtype": "int64",
        "shape": [],
        "file": "shared/state.npy",
    }
    assert np.load(built / state["file"]) == 0
    assert "kernel.elementwise" in manifest["ir"]["tir-opt"] and "tx.given" in manifest["ir"]["tir"]
    assert (
        manifest["target"]["kind"] == "cpu"
        and manifest["object"]["bytes"] == (built / "code.o").stat().st_size
    )


def test_load_shares_state_between_functions(built: Path) -> None:
    m = tc.load(built)
    assert [int(m.accumulator(1)), int(m.accumulator(3)), int(m.decrementor(1))] == [0, 1, 4]
    assert m.shared["state"].get_value() == 3
    assert m.dump("tir-opt").startswith("module {")
    again = tc.load(built / "manifest.json")  # a fresh module starts from the saved values
    assert again.shared["state"].get_value() == 0


def test_recompiling_replaces_the_artifact(built: Path, tmp_path: Path) -> None:
    target = copy(built, tmp_path)
    compile_artifact(TUTORIAL, target)
    assert tc.load(target).sin_identity(30) == 1.0
    assert not any(p.name.startswith(".copy") for p in tmp_path.iterdir())


def test_refuses_to_overwrite_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ArtifactError, match="refusing to overwrite"):
        compile_artifact(TUTORIAL, tmp_path)


def test_missing_or_not_an_artifact(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        tc.load(tmp_path / "nothing")
    with pytest.raises(ArtifactError, match="has no manifest.json"):
        tc.load(tmp_path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "manifest.json").write_text("{not json"), "not JSON"),
        (lambda p: (p / "code.o").write_bytes(b"\0" * 64), "does not match its hash"),
        (lambda p: (p / "code.o").unlink(), "cannot read code.o"),
        (lambda p: (p / "shared" / "state.npy").unlink(), "cannot read the value of 'state'"),
        (lambda p: np.save(p / "shared" / "state.npy", np.zeros(3)), "is not a tensor<i64>"),
        (lambda p: edit_manifest(p, lambda m: m.update(format_version=99)), "format version 99"),
        (lambda p: edit_manifest(p, lambda m: m.update(format="zip")), "not a tc artifact manifest"),
        (lambda p: edit_manifest(p, lambda m: m.pop("functions")), "corrupt tc artifact: KeyError"),
        (lambda p: edit_manifest(p, lambda m: m["ir"].update({"tir-opt": "module {"})), "does not parse"),
        (
            lambda p: edit_manifest(p, lambda m: m["target"].update(features="+no-such-cpu-feature")),
            "lacks: no-such-cpu-feature",
        ),
        (lambda p: edit_manifest(p, lambda m: m["target"].update(kind="cuda")), "compiled for cuda"),
    ],
)
def test_damaged_artifacts_are_clear_errors(
    built: Path, tmp_path: Path, damage: Callable, message: str
) -> None:
    target = copy(built, tmp_path)
    damage(target)
    with pytest.raises(ArtifactError, match=message):
        tc.load(target)


def test_a_loaded_functions_downcast_hint_names_tc_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The hint named tc.function, which someone who loads an artifact never calls."""
    import numpy as np
    import pytest

    import tc
    from tc.artifact import compile_artifact

    source = tmp_path / "m.tx"
    source.write_text("fn twice(x: i32) -> i32 {\n    return x * 2\n}\n")
    compile_artifact(str(source), tmp_path / "art")
    with pytest.raises(tc.TcTypeError, match="pass allow_input_downcast=True to tc.load"):
        tc.load(tmp_path / "art").twice(1.5)
    assert tc.load(tmp_path / "art", allow_input_downcast=True).twice(np.float64(2.0)) == 4
    with pytest.raises(tc.TcTypeError, match="to tc.compile_file"):
        tc.compile_file(str(source)).twice(np.float64(1.5))
