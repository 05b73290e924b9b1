"""Run the differential fuzzer in subprocesses and print a JSON summary.

    python tests/fuzz/run_differential.py --seed 1 --count 400 --jobs 2

The parent splits programs [0, count) of stream `seed` over `jobs` workers;
each worker is `python tests/fuzz/run_differential.py --worker ...`, which
writes the program it is about to run to a progress file and one JSON line
per finished program to a results file. A worker that dies (SIGSEGV, SIGFPE,
abort) or hangs is reported as a crash with that program's seed, index and
source, and a new worker carries on after it. Each worker compiles into its
own fresh TC_CACHE_DIR, deleted when it ends.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENGINES = ("native", "native-O0", "interp", "interp-opt")
ROOT = Path(__file__).resolve().parents[2]
CHUNK = 150  # programs per worker process: bounds the JIT memory a process accumulates
SECONDS_PER_PROGRAM = 60  # one program (4 compiles, 3 calls) running longer than this is a hang


@dataclass(frozen=True)
class Plan:
    """What a campaign runs: programs of stream `seed`, the engines, how often at O0, and
    an optional wall-clock deadline (epoch seconds) after which no new program starts."""

    seed: int
    engines: tuple[str, ...] = ENGINES
    o0_every: int = 1
    deadline: float = float("inf")


def worker(plan: Plan, start: int, stop: int, progress: Path, results: Path) -> None:
    from differential import ProgramRunner, run_program  # imported here: the parent stays light
    from graphs import generate

    with results.open("a") as out:
        for index in range(start, stop):
            if time.time() > plan.deadline:
                return
            progress.write_text(json.dumps({"index": index, "source": None}))
            try:
                program = generate(plan.seed, index)
            except Exception:  # noqa: BLE001 - run_program classifies it
                program = None
            if program is not None:
                progress.write_text(json.dumps({"index": index, "source": program.source()}))
                outcome = ProgramRunner(program, plan.engines, plan.o0_every).run()
            else:
                _, outcome = run_program(plan.seed, index, plan.engines, plan.o0_every)
            record = {
                "index": index,
                "calls": outcome.calls,
                "rejected": outcome.rejected,
                "amplified": outcome.amplified,
                "amplified_example": outcome.amplified_example,
                "findings": [f.as_dict() for f in outcome.findings],
            }
            out.write(json.dumps(record) + "\n")
            out.flush()


def _worker_command(plan: Plan, start: int, stop: int, progress: Path, results: Path) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        f"--seed={plan.seed}",
        f"--engines={','.join(plan.engines)}",
        f"--o0-every={plan.o0_every}",
        f"--deadline={plan.deadline}",
        f"--start={start}",
        f"--stop={stop}",
        f"--progress={progress}",
        f"--results={results}",
    ]


def _crash_record(plan: Plan, code: object, stderr: str, progress: Path, finished: int) -> dict[str, Any]:
    state = json.loads(progress.read_text()) if progress.exists() else {"index": finished, "source": None}
    kind = "hang" if code == "timeout" else f"exit {code}"
    crash = {
        "kind": "crash",
        "engine": "process",
        "label": kind,
        "message": f"worker {kind} at program {state['index']}; stderr: {stderr[-1500:]}",
        "reproducer": state.get("source") or f"graphs.generate({plan.seed}, {state['index']})",
        "seed": plan.seed,
        "index": state["index"],
    }
    return {"index": state["index"], "calls": 0, "rejected": None, "amplified": 0, "findings": [crash]}


def _supervise(command: list[str], env: dict[str, str], progress: Path, log: Path) -> tuple[object, str]:
    """Run a worker; kill it when one program runs longer than SECONDS_PER_PROGRAM (the
    progress file is rewritten as each program starts). Its exit code, or "timeout"."""
    with log.open("w") as err:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        code: object = None
        while code is None:
            try:
                code = proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                started = progress.stat().st_mtime if progress.exists() else time.time()
                if time.time() - started > SECONDS_PER_PROGRAM + 40:  # + the worker's start-up
                    proc.kill()
                    proc.wait()
                    code = "timeout"
    return code, log.read_text(errors="replace")


def _drive(
    plan: Plan, job: int, start: int, stop: int, records: list[dict[str, Any]], lock: threading.Lock
) -> None:
    """Run programs [start, stop) in worker processes, restarting after each crash."""
    index = start
    while index < stop and time.time() <= plan.deadline:
        chunk_stop = min(stop, index + CHUNK)
        work = Path(tempfile.mkdtemp(prefix="tc-fuzz-"))
        progress, results = work / "progress.json", work / "results.jsonl"
        # One thread by default (two workers already share two cores); TC_FUZZ_THREADS=2 checks that
        # results do not depend on the count.
        threads = os.environ.get("TC_FUZZ_THREADS", "1")
        env = dict(os.environ, TC_CACHE_DIR=str(work / "cache"), TC_NUM_THREADS=threads)
        command = _worker_command(plan, index, chunk_stop, progress, results)
        code, stderr = _supervise(command, env, progress, work / "stderr.txt")
        done = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
        finished = done[-1]["index"] + 1 if done else index
        if code != 0 and finished < chunk_stop:
            done.append(_crash_record(plan, code, stderr, progress, finished))
            finished = done[-1]["index"] + 1
        elif finished < chunk_stop:  # the deadline passed
            finished = stop
        with lock:
            records.extend(done)
        shutil.rmtree(work, ignore_errors=True)
        index = finished


def run(
    seed: int,
    count: int,
    jobs: int,
    engines: tuple[str, ...] = ENGINES,
    o0_every: int = 1,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """Fuzz programs [0, count) of stream `seed` on `jobs` processes; the summary.
    `o0_every=n` compiles only every n-th program a second time at O0; `max_seconds`
    stops starting programs after that long (the summary then has fewer programs)."""
    started = time.time()
    deadline = started + max_seconds if max_seconds else float("inf")
    plan = Plan(seed, engines, o0_every, deadline)
    records: list[dict[str, Any]] = []
    lock = threading.Lock()
    bounds = [count * j // jobs for j in range(jobs + 1)]
    threads = [
        threading.Thread(target=_drive, args=(plan, j, bounds[j], bounds[j + 1], records, lock))
        for j in range(jobs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = summarise(seed, records, time.time() - started)
    summary.update(requested=count, o0_every=o0_every, jobs=jobs)
    return summary


def summarise(seed: int, records: list[dict[str, Any]], elapsed: float) -> dict[str, Any]:
    findings = [f for r in records for f in r["findings"]]
    kinds = Counter(f["kind"] for f in findings)
    distinct: dict[tuple[str, str, str], dict[str, Any]] = {}
    for f in sorted(findings, key=lambda f: len(f["reproducer"])):  # keep the shortest reproducer
        key = (f["kind"], f["engine"], f["label"])
        if key in distinct:
            distinct[key]["count"] += 1
        else:
            distinct[key] = {**f, "count": 1}
    rejected = Counter(r["rejected"] for r in records if r["rejected"])
    return {
        "seed": seed,
        "programs": len(records),
        "calls": sum(r["calls"] for r in records),
        "crashes": kinds["crash"],
        "wrong_results": kinds["wrong"],
        "internal_errors": kinds["internal_error"],
        "rejected": sum(rejected.values()),
        "rejected_reasons": dict(rejected.most_common(10)),
        "amplified_rounding": sum(r["amplified"] for r in records),
        "amplified_examples": [r["amplified_example"] for r in records if r.get("amplified_example")][:5],
        "distinct_failures": sorted(distinct.values(), key=lambda f: (f["kind"], f["engine"], f["label"])),
        "seconds": round(elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--o0-every", type=int, default=1, help="compile every n-th program at O0 too")
    parser.add_argument("--max-seconds", type=float, default=None, help="start no program after this long")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=float("inf"), help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--stop", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--progress", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    engines = tuple(e for e in args.engines.split(",") if e)
    if args.worker:
        worker(
            Plan(args.seed, engines, args.o0_every, args.deadline),
            args.start,
            args.stop,
            args.progress,
            args.results,
        )
        return 0
    summary = run(args.seed, args.count, args.jobs, engines, args.o0_every, args.max_seconds)
    print(json.dumps(summary, indent=1))
    return 0 if not (summary["crashes"] or summary["wrong_results"] or summary["internal_errors"]) else 1


if __name__ == "__main__":
    sys.exit(main())
