"""The installed `tc` command, run in subprocesses as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tc.codegen_ptx.target import assemble, find_ptxas
from tc.ir import TcDeviceError
from tc.runtime.cuda import cuda_context

ROOT = Path(__file__).parents[2]
TUTORIAL = ROOT / "examples" / "tutorial.tx"
TC = [shutil.which("tc")] if shutil.which("tc") else [sys.executable, "-m", "tc"]


def tc(*args: object, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TC, *map(str, args)], capture_output=True, text=True, input=stdin, cwd=cwd, timeout=120, check=False
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], status: int, fragment: str) -> None:
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert fragment in done.stderr


def test_run_prints_one() -> None:
    done = tc("run", TUTORIAL, "sin_identity", "30")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "1.0\n"


def test_script_shares_state_within_one_process() -> None:
    script = "accumulator 1; state; accumulator 3; state; decrementor 1; state\nskip_shared 1 3; state"
    done = tc("run", TUTORIAL, "--script", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "1", "1", "4", "4", "3", "7", "3"]


def test_script_from_stdin_sets_shared_values_and_draws() -> None:
    done = tc(
        "run", TUTORIAL, "--script", "-", stdin="state = 10  # set\naccumulator 2\nstate\ndraw_normal\n"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["10", "12"]
    assert len(json.loads(lines[2])) == 2


def test_repeat_reports_the_median() -> None:
    done = tc("run", TUTORIAL, "accumulator", "2", "--repeat", "5")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "8\n"  # the fifth call sees four updates of 2
    assert "median" in done.stderr and "per call over 5 calls" in done.stderr


def test_compile_then_load_in_a_fresh_process_compiles_nothing(tmp_path: Path) -> None:
    out = tmp_path / "build" / "tutorial"
    done = tc("compile", TUTORIAL, "-o", out)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "tc-artifact" and (out / "code.o").is_file()
    assert (out / "shared" / "state.npy").is_file()
    program = f"""
import numpy as np
import tc
m = tc.load({str(out)!r})
assert m.sin_identity(30) == 1.0
assert [int(m.accumulator(1)), int(m.accumulator(3)), int(m.decrementor(1))] == [0, 1, 4]
assert m.shared["state"].get_value() == 3
assert m.skip_shared(1, 3) == 7 and m.shared["state"].get_value() == 3
a, b = m.draw_uniform(), m.draw_uniform()
assert a.shape == (2, 2) and not np.array_equal(a, b)
assert np.array_equal(m.draw_normal(), m.draw_normal())
print(tc.codegen_llvm.jit.compile_count)
"""
    fresh = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False
    )
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.strip() == "0"
    # The CLI runs an artifact too, and the artifact's state starts from its saved values.
    done = tc("run", out, "--script", "accumulator 5; state")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "5"]


def test_load_parses_no_llvm_ir_at_all(tmp_path: Path) -> None:
    out = tmp_path / "tutorial"
    assert tc("compile", TUTORIAL, "-o", out).returncode == 0
    program = f"""
from tc.codegen_llvm import llvm_c
parsed = []
original = llvm_c.ParsedModule.__init__
def spy(self, text):
    parsed.append(text)
    original(self, text)
llvm_c.ParsedModule.__init__ = spy
import tc
m = tc.load({str(out)!r})
assert m.sin_identity(30) == 1.0 and m.skip_shared(1, 3) == 7
print(len(parsed))
"""
    fresh = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False
    )
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.strip() == "0"


def test_emit_stages() -> None:
    for stage, marker in [("tir", "tx.global @state"), ("tir-opt", "kernel.elementwise"), ("llvm", "define")]:
        done = tc("compile", TUTORIAL, "--emit", stage)
        assert done.returncode == 0, done.stderr
        assert marker in done.stdout
    done = tc("compile", TUTORIAL, "--emit", "asm", "-O2")
    assert done.returncode == 0 and "tc_sin_identity:" in done.stdout


def test_opt_prints_after_each_pass_and_times_them(tmp_path: Path) -> None:
    tir = tmp_path / "tutorial.tir"
    tir.write_text(tc("compile", TUTORIAL, "--emit", "tir").stdout)
    done = tc("opt", tir, "-p", "default", "--print-ir-after-all", "--time-passes")
    assert done.returncode == 0, done.stderr
    assert "kernel.elementwise" in done.stdout
    assert "IR Dump After" in done.stderr or "after" in done.stderr.lower()
    assert "fuse" in done.stderr
    piped = tc("opt", "-", "-p", "canonicalize", stdin=tir.read_text())
    assert piped.returncode == 0 and piped.stdout.startswith("module {")
    # A .tx file is read as the IR it lowers to.
    direct = tc("opt", TUTORIAL, "-p", "default")
    assert direct.returncode == 0 and direct.stdout == done.stdout


def test_debugprint_and_graph(tmp_path: Path) -> None:
    done = tc("debugprint", TUTORIAL, "sin_identity")
    assert done.returncode == 0, done.stderr
    assert "tx.add" in done.stdout and "tx.sin" in done.stdout
    fused = tc("debugprint", TUTORIAL, "sin_identity", "--stage", "tir-opt")
    assert "kernel.elementwise" in fused.stdout
    dot = tmp_path / "graph.dot"
    done = tc("graph", TUTORIAL, "accumulator", "-o", dot)
    assert done.returncode == 0, done.stderr
    text = dot.read_text()
    assert text.startswith('digraph "accumulator" {') and "tx.store @state" in text and "->" in text
    if shutil.which("dot") is None:
        svg = tmp_path / "graph.svg"
        done = tc("graph", TUTORIAL, "accumulator", "-o", svg)
        assert_one_line_error(done, 1, "apt-get install graphviz")
        assert (tmp_path / "graph.dot").is_file()


def test_syntax_error_points_at_the_token(tmp_path: Path) -> None:
    model = tmp_path / "model.tx"
    model.write_text("fn f(x: f64) -> f64 {\n    return x +\n}\n")
    done = tc("run", model, "f", "1")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    first, line, caret = done.stderr.rstrip("\n").split("\n")
    assert first == f"{model}:3:1: error: expected an expression, found '}}'"
    assert (line, caret) == ("}", "^")


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    assert_one_line_error(tc("run", tmp_path / "absent.tx", "f"), 1, "cannot read")
    assert_one_line_error(tc("run", TUTORIAL, "nope"), 1, "has no function 'nope'")
    assert_one_line_error(tc("run", TUTORIAL, "accumulator", "1.5"), 1, "cannot be stored")
    assert_one_line_error(tc("run", TUTORIAL, "accumulator"), 1, "takes 1 argument")
    assert_one_line_error(tc("compile", TUTORIAL, "--target", "cuda", "--emit", "asm"), 2, "stage of the cpu")
    assert_one_line_error(tc("run", tmp_path, "f"), 1, "not a tc artifact")
    tir = tmp_path / "empty.tir"
    tir.write_text("module {\n}\n")
    assert_one_line_error(tc("opt", tir, "-p", "no-such-pass"), 1, "no-such-pass")
    assert tc("compile", TUTORIAL, "-O7").returncode == 2


def test_cuda_artifact_carries_ptx(tmp_path: Path) -> None:
    """Compiling for the GPU needs no GPU; loading one without a GPU says what is missing."""
    out = tmp_path / "gpu"
    assert tc("compile", TUTORIAL, "--target", "cuda", "-o", out).returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["target"] == {"kind": "cuda", "architecture": "sm_80"}
    ptx = (out / "kernels.ptx").read_text()
    assert ".target sm_80" in ptx and ".entry" in ptx
    if find_ptxas() is not None:
        assemble(ptx, "sm_80")
    emitted = tc("compile", TUTORIAL, "--emit", "ptx")
    assert emitted.returncode == 0 and emitted.stdout == ptx
    try:
        cuda_context()
    except TcDeviceError:
        assert_one_line_error(tc("run", out, "sin_identity", "30"), 1, "device='cuda'")


def test_corrupt_artifact_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "art"
    assert tc("compile", TUTORIAL, "-o", out).returncode == 0
    code = out / "code.o"
    code.write_bytes(code.read_bytes()[:-8] + b"corrupt!")
    assert_one_line_error(tc("run", out, "sin_identity", "30"), 1, "does not match its hash")


def test_traceback_flag_shows_the_traceback() -> None:
    done = tc("run", TUTORIAL, "nope", "--traceback")
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_help_everywhere() -> None:
    for command in ([], ["compile"], ["run"], ["opt"], ["debugprint"], ["graph"]):
        done = tc(*command, "--help")
        assert done.returncode == 0 and "usage: tc" in done.stdout, command
    module = subprocess.run(
        [sys.executable, "-m", "tc", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert module.returncode == 0 and "compile" in module.stdout and "debugprint" in module.stdout


def test_run_calls_a_function_beside_a_broken_one(tmp_path: Path) -> None:
    model = tmp_path / "m.tx"
    model.write_text(
        "fn good(x: f64) -> f64 {\n    return x * 2\n}\nfn bad(x: f64) -> f64 {\n    return y\n}\n"
    )
    done = tc("run", model, "good", "3")
    assert done.returncode == 0 and done.stdout.strip() == "6.0", done.stderr
    broken = tc("run", model, "bad", "3")
    assert broken.returncode == 1 and "m.tx:5:12: error: unknown name 'y'" in broken.stderr
