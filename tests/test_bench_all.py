"""bench/all.py: the report it writes, its exit status, and how it runs one benchmark.

No real benchmark runs here: results are made up, and the subprocess runner is
tried on tiny scripts written for the test.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_bench_all() -> ModuleType:
    # Loaded from its file rather than through sys.path: bench/ holds mlp.py and scan.py,
    # whose names would shadow other modules of the test run.
    spec = importlib.util.spec_from_file_location("bench_all", ROOT / "bench" / "all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_all"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


bench_all = _load_bench_all()

TABLE = "\nseed f, 262,144 x float64\n  implementation   time   vs tc\n  tc   1.00ms   1.00x\n"


def fake_results() -> list:  # type: ignore[type-arg]
    return [
        bench_all.Result("elementwise", "python bench/elementwise.py --quick", 0, 3.25, TABLE, "a warning\n"),
        bench_all.Result(
            "gemm",
            "python bench/gemm.py --quick",
            3,
            1.5,
            "partial table\n",
            "Traceback (most recent call last):\nAssertionError: jax.jit on 20 x 784 @ 784 x 500, float64\n",
        ),
    ]


def test_report_has_the_header_each_command_its_output_and_the_failure() -> None:
    header = bench_all.header_fields(["--quick"])
    report = bench_all.render_report(fake_results(), header, pending=["lenet"])
    labels = [label for label, _ in header]
    for label in ("Date", "Machine", "Python", "Versions", "Command"):
        assert label in labels
        assert f"- {label}: " in report
    assert " UTC" in dict(header)["Date"]
    assert "cores" in dict(header)["Machine"]
    versions = dict(header)["Versions"]
    assert "numpy " in versions and "llvmlite " in versions and "tc " in versions
    assert "python bench/all.py --quick" in report
    assert "## elementwise" in report and "## gemm" in report
    assert "`python bench/elementwise.py --quick`: ok, exit status 0, wall time 3.2 s" in report
    assert "```text\n" + TABLE.strip("\n") + "\n```" in report
    assert "**FAILED**, exit status 3" in report
    assert "AssertionError: jax.jit on 20 x 784 @ 784 x 500, float64" in report
    assert "a warning" not in report  # stderr only for the failed ones
    assert "1 of 2 benchmarks succeeded; failed: gemm (exit status 3); still to run: lenet" in report


def test_output_with_backticks_gets_a_longer_fence() -> None:
    lines = bench_all._fenced("a ``` b")
    assert lines[0] == "````text" and lines[-1] == "````"


def test_main_writes_the_report_and_exits_nonzero_when_one_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_name = {r.name: r for r in fake_results()}
    ran: list[tuple[str, bool]] = []

    def fake_run(benchmark, quick, timeout=None):  # type: ignore[no-untyped-def]
        ran.append((benchmark.name, quick))
        return by_name[benchmark.name]

    monkeypatch.setattr(bench_all, "run_benchmark", fake_run)
    out = tmp_path / "report" / "RESULTS.md"
    assert bench_all.main(["--quick", "--only", "gemm,elementwise", "--out", str(out)]) == 1
    assert ran == [("elementwise", True), ("gemm", True)]  # the usual order, not --only's
    text = out.read_text()
    assert "## elementwise" in text and "**FAILED**, exit status 3" in text

    assert bench_all.main(["--only", "elementwise", "--out", str(out)]) == 0
    assert "## gemm" not in out.read_text()


def test_only_and_quick() -> None:
    assert [b.name for b in bench_all.select("scan, rng.py")] == ["rng", "scan"]
    assert len(bench_all.select(None)) == 11
    with pytest.raises(ValueError, match="nope"):
        bench_all.select("elementwise,nope")
    call_overhead, elementwise = bench_all.select("call_overhead,elementwise")[::-1]
    assert bench_all.shown_command(call_overhead, quick=True) == "python bench/call_overhead.py"
    assert bench_all.shown_command(elementwise, quick=True) == "python bench/elementwise.py --quick"
    for benchmark in bench_all.BENCHMARKS:
        assert benchmark.script.is_file()


def test_run_benchmark_captures_output_exit_status_and_timeout(tmp_path: Path) -> None:
    script = tmp_path / "fake.py"
    script.write_text("import sys\nprint('table', sys.argv[1:])\nsys.exit('broken')\n")
    result = bench_all.run_benchmark(bench_all.Benchmark("fake", script), quick=True)
    assert not result.ok and result.returncode == 1
    assert result.stdout == "table ['--quick']\n" and "broken" in result.stderr
    assert result.command.endswith("fake.py --quick")

    slow = tmp_path / "slow.py"
    slow.write_text("import time\nprint('started', flush=True)\ntime.sleep(30)\n")
    result = bench_all.run_benchmark(bench_all.Benchmark("slow", slow), quick=False, timeout=1)
    assert result.returncode is None and result.status == "timed out" and "killed after 1 s" in result.stderr


def test_unknown_name_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "all.py"), "--only", "nope"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "unknown benchmark(s) nope" in done.stderr


@pytest.mark.parametrize(
    ("flags", "named"),
    [("fpu sse2 avx avx2 fma", "Zen (AVX2)"), ("sse2 avx2 avx512f avx512bw", "Zen (AVX-512)"), (None, "Zen")],
)
def test_machine_names_its_widest_vector_extension(
    monkeypatch: pytest.MonkeyPatch, flags: str | None, named: str
) -> None:
    """Machines of one model name differ in their vectors (an "AMD EPYC" with AVX-512 or with
    AVX2 only), and tc's kernels with them: the report says which it ran on."""
    fields = {"model name": "Zen", "flags": flags, "MemTotal": "2097152 kB"}
    monkeypatch.setattr(bench_all, "_proc_field", lambda path, key: fields[key])
    assert bench_all.machine_description().startswith(f"{named}, ")
