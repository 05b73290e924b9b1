"""Run every CPU benchmark, each in its own process, and write their tables to one Markdown report.

    python bench/all.py [--quick] [--only NAME[,NAME]] [--out PATH] [--timeout SECONDS]

The benchmarks (GPU ones excluded): elementwise, reductions, rng, gemm, logreg, mlp,
lenet, scan, call_overhead, compile_scaling, compile_latency. Each runs as `python bench/NAME.py`
(with --quick where it takes one: call_overhead has no quick mode), one after the
other, with its output captured. The report (default bench/RESULTS.md) starts with
the date, the machine, Python and the versions of numpy, llvmlite, tc, PyTensor and
JAX, then gives each benchmark's command, exit status, wall time and output (the
tables, whose "vs tc" columns are the ratios). A benchmark that fails is recorded
with its exit status and the tail of its stderr, and the others still run; the exit
status of all.py is then 1. The report is rewritten after each benchmark, so an
interrupted run leaves the finished ones behind.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
STDERR_TAIL_LINES = 40
PEERS = ("numpy", "llvmlite", "pytensor", "jax", "jaxlib")
THREAD_VARIABLES = ("TC_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
THREAD_VARIABLES += ("NUMBA_NUM_THREADS", "XLA_FLAGS")  # settings that change the timings


@dataclass(frozen=True)
class Benchmark:
    """One benchmark script in bench/ and whether it takes --quick."""

    name: str
    script: Path
    takes_quick: bool = True

    def argv(self, quick: bool) -> list[str]:
        return [str(self.script), *(["--quick"] if quick and self.takes_quick else [])]


BENCHMARKS = [
    Benchmark(name, BENCH / f"{name}.py", takes_quick=name != "call_overhead")
    for name in (
        "elementwise",
        "reductions",
        "rng",
        "gemm",
        "logreg",
        "mlp",
        "lenet",
        "scan",
        "call_overhead",
        "compile_scaling",
        "compile_latency",
    )
]


@dataclass(frozen=True)
class Result:
    """What one benchmark process did: `returncode` None means it ran past the timeout."""

    name: str
    command: str  # as a reader would type it, from the repository root
    returncode: int | None
    seconds: float
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def status(self) -> str:
        return "timed out" if self.returncode is None else f"exit status {self.returncode}"


def shown_command(benchmark: Benchmark, quick: bool) -> str:
    """The command line as run, with the script relative to the repository root where it can be."""
    script, *flags = benchmark.argv(quick)
    try:
        script = str(Path(script).relative_to(ROOT))
    except ValueError:
        pass
    return shlex.join(["python", script, *flags])


def run_benchmark(benchmark: Benchmark, quick: bool, timeout: float | None = None) -> Result:
    """Run one benchmark in a fresh interpreter (this one's), from the repository root."""
    command = shown_command(benchmark, quick)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, *benchmark.argv(quick)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as expired:
        return Result(
            benchmark.name,
            command,
            None,
            time.perf_counter() - started,
            _text(expired.stdout),
            _text(expired.stderr) + f"\n(killed after {timeout:g} s)",
        )
    seconds = time.perf_counter() - started
    return Result(benchmark.name, command, done.returncode, seconds, done.stdout, done.stderr)


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


# -- the report's header ------------------------------------------------------------------------


def _proc_field(path: str, key: str) -> str | None:
    """The value of the first `key: value` line of a /proc file, None if there is none."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    match = re.search(rf"^{re.escape(key)}\s*:\s*(.*)$", text, re.MULTILINE)
    return match.group(1).strip() if match else None


# /proc/cpuinfo's flag of each x86 vector extension and its name, widest first.
VECTOR_EXTENSIONS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse2", "SSE2"))


def machine_description() -> str:
    """CPU model, widest vector extension, core count and memory, from /proc where it exists.
    The vector width is named because machines of one model name differ in it ("AMD EPYC"
    with AVX-512 or with AVX2 only), and tc's kernels and their speed with it."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    flags = (_proc_field("/proc/cpuinfo", "flags") or "").split()
    vectors = next((name for flag, name in VECTOR_EXTENSIONS if flag in flags), None)
    cpu = f"{cpu} ({vectors})" if vectors else cpu
    cores = f"{os.cpu_count()} cores"
    if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) != os.cpu_count():
        cores += f" ({len(os.sched_getaffinity(0))} usable by this process)"
    memory = _proc_field("/proc/meminfo", "MemTotal")  # "131891424 kB"
    if memory and memory.split()[0].isdigit():
        memory = f"{int(memory.split()[0]) / 2**20:.1f} GiB memory"
    return f"{cpu}, {cores}, {memory or 'memory unknown'}"


def git_commit() -> str | None:
    """The short commit of the checkout, marked when tracked files have uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=30
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def tc_version() -> str:
    """tc.__version__ where tc imports and has one, and the git commit where there is one."""
    try:
        import tc

        version: str | None = getattr(tc, "__version__", None)
    except Exception:  # a broken checkout still gets a report
        version = None
    commit = git_commit()
    if version and commit:
        return f"{version} (git {commit})"
    return version or (f"git {commit}" if commit else "unknown")


def package_versions() -> list[str]:
    """`name version` for tc and each installed peer."""
    found = [f"tc {tc_version()}"]
    for name in PEERS:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def header_fields(argv: list[str]) -> list[tuple[str, str]]:
    """(label, value) pairs describing this run: when, where, with what."""
    now = datetime.datetime.now(datetime.timezone.utc)
    fields = [
        ("Date", now.strftime("%Y-%m-%d %H:%M UTC")),
        ("Machine", machine_description()),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})"),
        ("Versions", ", ".join(package_versions())),
        ("Command", shlex.join(["python", "bench/all.py", *argv])),
    ]
    if hasattr(os, "getloadavg"):
        fields.append(("Load average at start", ", ".join(f"{load:.2f}" for load in os.getloadavg())))
    threads = [f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ]
    if threads:
        fields.append(("Environment", " ".join(threads)))
    return fields


# -- the report ---------------------------------------------------------------------------------


def _fenced(text: str, info: str = "text") -> list[str]:
    """`text` in a code block whose fence is longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", text.strip("\n") or "(no output)", fence]


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    kept = text.rstrip("\n").splitlines()[-lines:]
    return "\n".join(kept)


def result_section(result: Result) -> list[str]:
    """One benchmark's section: command, status, wall time, output; stderr's tail if it failed."""
    verdict = "ok" if result.ok else "**FAILED**"
    lines = [
        f"## {result.name}",
        "",
        f"`{result.command}`: {verdict}, {result.status}, wall time {result.seconds:.1f} s",
        "",
        *_fenced(result.stdout),
    ]
    if not result.ok:
        lines += ["", f"Last {STDERR_TAIL_LINES} lines of stderr:", "", *_fenced(_tail(result.stderr))]
    return [*lines, ""]


def render_report(results: list[Result], header: list[tuple[str, str]], pending: list[str]) -> str:
    """The whole Markdown report: header, summary table, one section per benchmark run."""
    failed = [r for r in results if not r.ok]
    lines = ["# tc benchmark results", ""]
    lines += [f"- {label}: {value}" for label, value in header]
    summary = f"{len(results) - len(failed)} of {len(results)} benchmarks succeeded"
    if failed:
        summary += "; failed: " + ", ".join(f"{r.name} ({r.status})" for r in failed)
    if pending:
        summary += "; still to run: " + ", ".join(pending)
    lines += [f"- Summary: {summary}", ""]
    lines += [
        "Each table's \"vs\" column is that implementation's time divided by the baseline's "
        "(above 1: the baseline is faster), all measured in the same process.",
        "",
        "| benchmark | status | wall time |",
        "| --- | --- | ---: |",
    ]
    lines += [f"| {r.name} | {'ok' if r.ok else r.status} | {r.seconds:.1f} s |" for r in results]
    lines.append("")
    for result in results:
        lines += result_section(result)
    return "\n".join(lines)


# -- the command line ---------------------------------------------------------------------------


def select(only: str | None) -> list[Benchmark]:
    """The benchmarks named in `only` (comma-separated), in the usual order; all if None."""
    if not only:
        return list(BENCHMARKS)
    names = [name.strip().removesuffix(".py") for name in only.split(",") if name.strip()]
    known = {b.name for b in BENCHMARKS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    return [b for b in BENCHMARKS if b.name in names]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark that takes it")
    parser.add_argument("--only", metavar="NAME[,NAME]", help="run only these benchmarks")
    out = BENCH / "RESULTS.md"
    parser.add_argument("--out", metavar="PATH", type=Path, default=out, help="default bench/RESULTS.md")
    parser.add_argument("--timeout", metavar="SECONDS", type=float, help="limit per benchmark (default none)")
    args = parser.parse_args(argv)
    try:
        args.benchmarks = select(args.only)
    except ValueError as err:
        parser.error(str(err))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks, write the report after each; 1 if any failed, else 0."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    header = header_fields(argv)
    results: list[Result] = []
    benchmarks: list[Benchmark] = args.benchmarks
    for index, benchmark in enumerate(benchmarks):
        print(f"[{index + 1}/{len(benchmarks)}] {shown_command(benchmark, args.quick)}", flush=True)
        result = run_benchmark(benchmark, args.quick, args.timeout)
        results.append(result)
        print(f"    {'ok' if result.ok else 'FAILED'}: {result.status}, {result.seconds:.1f} s", flush=True)
        if not result.ok:
            print(_tail(result.stderr, 10), file=sys.stderr, flush=True)
        pending = [b.name for b in benchmarks[index + 1 :]]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(render_report(results, header, pending))
    failed = [r.name for r in results if not r.ok]
    print(f"report: {args.out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
