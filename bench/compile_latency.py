"""Compile latency as a user meets it: a new Python process builds a function, compiles it and
calls it once.

    python bench/compile_latency.py [--quick] [--runs N]

Cases: the seed f, `sin(x)**2 + cos(x)**2` on a float64 scalar; the activation
`max(0.1x, x) * sigmoid(x) + tanh(x)` on 2^16 float64 elements (a small function, no goal in
the issue); the logistic-regression and MLP train steps of bench/train_models.py (float32,
the tutorial's minibatch, data in shared variables). Implementations: tc, and JAX's jit (x64
enabled). Each timing is taken in a child
process, from the first graph-building call to the first result, its imports apart:

- cold: an empty compile cache (tc: a new TC_CACHE_DIR; JAX: an empty persistent
  compilation cache);
- warm: a second new process over the cache the cold one left. tc stores the optimised code
  before the first process exits (it waits for its background optimisation); JAX's
  persistent cache is enabled with no minimum compile time or entry size;
- "tc, library cached" (cold table): tc over a cache that holds only its support library
  (the thread pool and the products, which any earlier compile on the machine made: a
  first child compiles float32 and float64 products of its own), as for any new function
  once tc has compiled something on the machine; and "tc, optimised first", the same with
  TC_TIERED=never: tc's code optimised before its first call, not quick code first
  (tc/tiering.py);
- "tc, installed wheel": tc as `pip install` leaves it, a wheel of this tree installed in a
  folder of its own (`pip wheel`, which fetches setuptools from the package index). A source
  tree or an editable install keys the compile cache by every compiler source file's size
  and modification time (about 180 files looked at, about 0.7 ms of a warm start on the
  2-core machines); an installed tc by its wheel's RECORD (one file read).

Every cold run gets a directory of its own and the warm run after it reuses it. Medians of
`--runs` pairs (default 3), the rows taking turns run by run; the imports line gives the
median time to import tc, or jax.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from harness import machine_note, print_table  # noqa: E402

CASES = ("seed", "activation", "logreg", "mlp")
# The goals for tc (seconds): cold, warm.
GOALS: dict[str, tuple[float, float] | None] = {
    "seed": (0.03, 0.003),
    "activation": None,
    "logreg": (0.1, 0.01),
    "mlp": (0.15, 0.01),
}


def child(implementation: str, case: str) -> None:
    """Import, build, compile and call once; print the seconds as JSON."""
    started = time.perf_counter()
    if implementation == "tc":
        import tc

        installed = os.environ.get("BENCH_INSTALLED")
        if installed and not tc.__file__.startswith(installed):
            raise SystemExit(f"imported {tc.__file__}, not the installed wheel in {installed}")
    else:
        import jax

        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_compilation_cache_dir", os.environ["BENCH_CACHE_DIR"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    imported = time.perf_counter() - started
    if case == "library":
        _library()
        print(json.dumps({"import": imported, "seconds": 0.0}), flush=True)
        return
    make = {"seed": _seed, "activation": _activation}.get(case, _train_step)
    seconds, function = make(implementation, case)
    print(json.dumps({"import": imported, "seconds": seconds}), flush=True)
    if implementation == "tc":
        import tc

        # The optimised code, in the cache for the warm run: tc makes it for the functions that
        # are still alive (as a script's are), and drops the work for the ones that are gone.
        tc.finish_compiling()
    del function


def _library() -> None:
    """Make tc's support library and leave it in the cache: products of both float types."""
    import numpy as np

    import tc
    import tc.tensor as T

    for dtype in ("float32", "float64"):
        a, b = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype)
        f = tc.function([a, b], T.dot(a, b) * 3)
        f(np.ones((3, 4), dtype), np.ones((4, 5), dtype))
    tc.finish_compiling()


def _seed(implementation: str, case: str) -> tuple[float, Any]:
    started = time.perf_counter()
    if implementation == "tc":
        import tc
        import tc.tensor as T

        x = T.dscalar("x")
        f = tc.function([x], T.sin(x) ** 2 + T.cos(x) ** 2)
        result = float(f(1.0))
    else:
        import jax
        import jax.numpy as jnp

        g = jax.jit(lambda x: jnp.sin(x) ** 2 + jnp.cos(x) ** 2)
        result = float(g(1.0))
    seconds = time.perf_counter() - started
    assert abs(result - 1.0) < 1e-12, result
    return seconds, f if implementation == "tc" else g


def _activation(implementation: str, case: str) -> tuple[float, Any]:
    import numpy as np

    data = np.linspace(-4.0, 4.0, 1 << 16)
    started = time.perf_counter()
    if implementation == "tc":
        import tc
        import tc.tensor as T

        x = T.dvector("x")
        f = tc.function([x], T.maximum(0.1 * x, x) * T.sigmoid(x) + T.tanh(x))
        result = np.asarray(f(data))
    else:
        import jax
        import jax.numpy as jnp

        f = jax.jit(lambda x: jnp.maximum(0.1 * x, x) * jax.nn.sigmoid(x) + jnp.tanh(x))
        result = np.asarray(f(data))
    seconds = time.perf_counter() - started
    expected = np.maximum(0.1 * data, data) / (1 + np.exp(-data)) + np.tanh(data)
    assert result.dtype == np.float64 and np.allclose(result, expected, rtol=1e-12, atol=1e-15)
    return seconds, f


def _train_step(implementation: str, case: str) -> tuple[float, Any]:
    import numpy as np
    import train_models as models

    settings = models.MODELS[case]
    n = 4 * settings.batch_size  # compiling does not depend on the data: a few minibatches
    train_set = (np.zeros((n, models.N_IN), "float32"), np.zeros(n, np.int64))
    if implementation == "tc":
        built = models.build_with(models.tc_backend(), settings, train_set, "float32")
    else:
        built = models.build_jax(settings, train_set, "float32")
    return built.compile_seconds + models.first_call_seconds(built), built


def run_child(
    implementation: str, case: str, directory: str, settings: dict[str, str] | None = None
) -> dict[str, float] | str:
    env = dict(os.environ, TC_CACHE_DIR=directory, BENCH_CACHE_DIR=directory, **(settings or {}))
    try:
        done = subprocess.run(
            [sys.executable, __file__, "child", implementation, case],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        return "failed (timed out)"
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return f"failed ({last[0][:160]})"
    try:
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError) as error:
        return f"failed ({error})"


def install_wheel(folder: str) -> str | None:
    """Install a wheel of this tree into `folder` (its dependencies are this interpreter's);
    None, or why it failed."""
    root = Path(__file__).resolve().parent.parent
    wheels = os.path.join(folder, "wheels")
    target = os.path.join(folder, "site")
    for command in (["wheel", "--no-deps", "--wheel-dir", wheels, str(root)], ["install", "--no-deps"]):
        if command[0] == "install":
            command += ["--target", target, *(os.path.join(wheels, name) for name in os.listdir(wheels))]
        pip = [sys.executable, "-m", "pip", "--quiet", *command]
        done = subprocess.run(pip, capture_output=True, text=True)
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
            return f"failed (pip {command[0]}: {last[0][:160]})"
    return None


class Timings:
    """One row's cold and warm seconds, its children's import seconds, and its failures."""

    def __init__(self) -> None:
        self.cold: list[float] = []
        self.warm: list[float] = []
        self.imports: list[float] = []
        self.failures: list[str] = []


# tc's rows over a cache that holds its support library: the default, and optimised at once.
LIBRARY_CACHED = {"tc, library cached": {}, "tc, optimised first": {"TC_TIERED": "never"}}


def measure_once(
    timings: Timings,
    implementation: str,
    case: str,
    library: bool = False,
    settings: dict[str, str] | None = None,
) -> None:
    """One cold-then-warm pair into `timings`, in a cache directory of its own; `library`: one
    cold run over a cache holding tc's support library, and no warm one; `settings`:
    environment variables of the timed children."""
    directory = tempfile.mkdtemp(prefix=f"{implementation}-latency-")
    try:
        if library and isinstance(problem := run_child("tc", "library", directory), str):
            timings.failures.append(problem)
            return
        for times in (timings.cold,) if library else (timings.cold, timings.warm):
            result = run_child(implementation, case, directory, settings)
            if isinstance(result, str):
                timings.failures.append(result)
                return
            times.append(result["seconds"])
            timings.imports.append(result["import"])
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one cold and one warm run each")
    parser.add_argument("--runs", type=int, default=3, help="cold-then-warm pairs per timing (default 3)")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    print(f"Compile latency: build, compile and first call in a new process ({machine_note()}; {runs} runs)")
    with tempfile.TemporaryDirectory(prefix="tc-wheel-") as folder:
        problem = install_wheel(folder)
        site = os.path.join(folder, "site")
        installed = {"PYTHONPATH": site, "BENCH_INSTALLED": site}
        for case in CASES:
            _report(case, runs, installed if problem is None else problem)


def _report(case: str, runs: int, installed: dict[str, str] | str) -> None:
    """Measure and print `case`'s tables; `installed`: the environment of children that run the
    installed wheel, or why it could not be installed. The rows take turns, run by run, so
    that a slow phase of the machine does not land on one row's runs alone."""
    rows: list[tuple[str, str, dict[str, str] | str, bool]] = [
        ("tc", "tc", {}, False),
        ("tc, installed wheel", "tc", installed, False),
        *((name, "tc", settings, True) for name, settings in LIBRARY_CACHED.items()),
        ("jax", "jax", {}, False),
    ]
    timings = {name: Timings() for name, *_ in rows}
    for _ in range(runs):
        for name, implementation, settings, library in rows:
            if isinstance(settings, str):
                timings[name].failures[:] = [settings]
            else:
                measure_once(timings[name], implementation, case, library, settings)
    goals = GOALS[case]
    goal_cold, goal_warm = (f"tc's goal <= {g * 1e3:g} ms" for g in goals) if goals else ("no goal",) * 2
    print_table(f"{case}: cold (empty cache; {goal_cold})", [(n, _median(timings[n].cold)) for n, *_ in rows])
    warm_rows = [(name, _median(timings[name].warm)) for name, _, _, library in rows if not library]
    print_table(f"{case}: warm (a new process, cache hit; {goal_warm})", warm_rows)
    for name, _, _, library in rows:
        found = timings[name]
        if library:
            print(f"  {name}: runs (ms): {', '.join(f'{s * 1e3:.1f}' for s in found.cold)}")
        elif found.cold or found.warm:
            spread = ", ".join(f"{s * 1e3:.1f}" for s in [*found.cold, *found.warm])
            print(f"  {name}: cold then warm runs (ms): {spread}")
        if found.imports and not library:
            print(f"  {name}: import {statistics.median(found.imports) * 1e3:.0f} ms (median)")
        for failure in found.failures:
            print(f"  {name}: {failure}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
