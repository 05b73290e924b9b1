"""`tc run --save-shared DIR` / `--load-shared DIR`: trained shared values kept as .npy files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

TUTORIAL = str(Path(__file__).resolve().parents[2] / "examples" / "tutorial.tx")


def tc_run(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tc", "run", TUTORIAL, *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_saved_values_are_loaded_by_the_next_run(tmp_path: Path) -> None:
    folder = tmp_path / "values"
    first = tc_run("--script", "accumulator 5", "--save-shared", str(folder))
    assert first.returncode == 0, first.stderr
    assert np.load(folder / "state.npy") == 5
    second = tc_run("--load-shared", str(folder), "--script", "accumulator 1; state")
    assert second.returncode == 0 and second.stdout.split() == ["5", "6"], second.stderr


def test_files_that_do_not_fit_the_model_change_nothing(tmp_path: Path) -> None:
    np.save(tmp_path / "bogus.npy", np.zeros(2))
    unknown = tc_run("--load-shared", str(tmp_path), "--script", "state")
    assert unknown.returncode == 1 and "bogus.npy match(es) no shared variable" in unknown.stderr
    (tmp_path / "bogus.npy").unlink()
    np.save(tmp_path / "state.npy", np.zeros(2))
    wrong = tc_run("--load-shared", str(tmp_path), "--script", "state")
    assert wrong.returncode == 1 and "state.npy: shared variable 'state'" in wrong.stderr
    missing = tc_run("--load-shared", str(tmp_path / "nowhere"), "--script", "state")
    assert missing.returncode == 1 and "no such folder" in missing.stderr
