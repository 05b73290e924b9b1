"""The support library's parts are made ahead, on threads of their own, while a cold compile
runs its passes (tc/library_parts.py): each part is made once, what the compile needs is there
when it loads its code, and a part that fails to build fails the compile that needs it. Each
case runs in a fresh process with an empty compile cache, since parts are made once per
process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PROLOGUE = """
import threading
import numpy as np
import tc, tc.tensor as T
from tc import library_parts, object_cache
"""


def _run(tmp_path: Path, body: str) -> str:
    script = PROLOGUE + textwrap.dedent(body)
    # The parts made, not taken from tc's prebuilt library (test_prebuilt_library.py).
    env = {"TC_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin", "TC_NUM_THREADS": "2"}
    env["TC_PREBUILT_LIBRARY"] = "0"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_cold_compile_makes_the_parts_it_needs_on_their_own_threads(tmp_path: Path) -> None:
    out = _run(
        tmp_path,
        """
        started = []
        real = threading.Thread.start
        def start(thread):
            started.append(thread.name)
            real(thread)
        threading.Thread.start = start
        x, w = T.fmatrix("x"), T.fmatrix("w")
        f = tc.function([x, w], T.tanh(T.dot(x, w)))
        threading.Thread.start = real
        a, b = np.ones((20, 30), np.float32), np.ones((30, 40), np.float32)
        np.testing.assert_allclose(f(a, b), np.tanh(a @ b), rtol=1e-6)
        print(sorted(n for n in started if n.startswith("tc ")))
        print(sorted(library_parts._PARTS))
        again = library_parts.support_library(["tc_pool_run"])
        print(again["tc_pool_run"] == library_parts._PARTS["pool"].result()["tc_pool_run"] != 0)
        """,
    )
    threads, parts, same = out.splitlines()
    # Float32 products: the float32 kernels, not float64's, made quick first; optimised by the
    # tiering worker only once calls pay for it (tiering.library_later): one call does not.
    assert threads == "['tc call', 'tc f32', 'tc pool']"
    assert parts == "['call', 'f32', 'pool']"
    assert same == "True"  # made once: later requests get the same code


def test_a_function_of_scalars_makes_only_the_packed_call(tmp_path: Path) -> None:
    """No thread pool for code that has no loops to spread: on an empty cache, making the
    pool would hold the compile's own LLVM calls up (one at a time in a process)."""
    out = _run(
        tmp_path,
        """
        x = T.dscalar("x")
        f = tc.function([x], T.sin(x) ** 2 + T.cos(x) ** 2)
        print(float(f(1.0)), sorted(library_parts._PARTS))
        v = T.dvector("v")
        g = tc.function([v], T.exp(v) * 2.0)
        print(float(g(np.zeros(3)).sum()), sorted(library_parts._PARTS))
        """,
    )
    assert out.splitlines() == ["1.0 ['call']", "6.0 ['call', 'pool']"]


def test_a_part_that_fails_to_build_fails_the_compile_that_needs_it(tmp_path: Path) -> None:
    out = _run(
        tmp_path,
        """
        from tc.codegen_llvm import support
        def broken(part):
            raise RuntimeError(f"no {part} today")
        support.support_text = broken
        x = T.vector("x")
        try:
            tc.function([x], T.exp(x) + 1.0)
        except RuntimeError as error:
            print("failed:", error)
        else:
            print("compiled")
        """,
    )
    assert out.strip() == "failed: no pool today"  # and the process exited cleanly


def test_optimised_products_replace_their_quick_code_in_every_module(tmp_path: Path) -> None:
    """With an empty cache the float32 kernels are made quick first; once optimised, every
    module that calls them is pointed at the optimised code, and results stay the same."""
    out = _run(
        tmp_path,
        """
        from tc.codegen_llvm.symbols import LIBRARY_GLOBALS
        x, w = T.fmatrix("x"), T.fmatrix("w")
        f = tc.function([x, w], T.tanh(T.dot(x, w)))
        a = np.linspace(-1, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
        b = np.linspace(1, -1, 30 * 40, dtype=np.float32).reshape(30, 40)
        before = f(a, b)
        quick = library_parts._PARTS["f32"].result()
        tc.finish_compiling()
        optimised = library_parts._PARTS["f32"].result()
        written = {name: value for name, (_, value) in f._code_owner.written.items()}
        glob = LIBRARY_GLOBALS["tc_dot_f32"]
        print(quick["tc_dot_f32"] != optimised["tc_dot_f32"], written[glob] == optimised["tc_dot_f32"])
        np.testing.assert_allclose(f(a, b), before, rtol=1e-6)
        # Against the exact product: a float32 product's error is bounded by its length times
        # an ulp of |a| @ |b| (the order of the additions, the kernel's or BLAS's, decides
        # where in that bound each element lands; this sum of 30 cancels to 0.01 in places).
        exact = a.astype(np.float64) @ b.astype(np.float64)
        bound = 30 * 2.0**-24 * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
        assert np.all(np.abs(before - np.tanh(exact)) <= bound + 2.0**-23 * np.abs(np.tanh(exact)))
        print(len(list(object_cache.cache_directory().rglob("*.tclib"))) == 3)  # call, pool, f32: optimised
        """,
    )
    assert out.split() == ["True", "True", "True"]


def test_a_damaged_part_in_the_cache_is_made_again_when_loaded(tmp_path: Path) -> None:
    """The prefetch sees a part's entry by its file alone; the load that reads it finds it
    damaged and makes the part there (a compile never fails for its cache)."""
    body = """
        x = T.dvector("x")
        f = tc.function([x], T.exp(x) * 2.0)
        print(float(f(np.zeros(3)).sum()))
        tc.finish_compiling()
        """
    assert _run(tmp_path, body).split() == ["6.0"]
    entries = sorted((tmp_path / "cache").rglob("*.tclib"))
    assert len(entries) == 2  # the call and the pool
    damaged = {}
    for entry in entries:
        damaged[entry] = entry.read_bytes()[:-5]
        entry.write_bytes(damaged[entry])
    assert _run(tmp_path, body.replace("2.0", "3.0")).split() == ["9.0"]
    assert all(entry.read_bytes() != data for entry, data in damaged.items())  # made and stored again


def test_the_products_are_optimised_once_calls_pay_else_cached_quick_at_the_end(tmp_path: Path) -> None:
    """A process that calls a product once ends without optimising the library's products
    (their quick code is cached as it is: parked); the next process loads that and, once its
    calls pay for optimising its own code, optimises the products too and caches them."""
    body = """
        from tc import tiering
        x, w = T.fmatrix("x"), T.fmatrix("w")
        f = tc.function([x, w], T.tanh(T.dot(x, w)))
        a, b = np.ones((20, 30), np.float32), np.ones((30, 40), np.float32)
        for _ in range(CALLS):
            np.testing.assert_allclose(f(a, b), np.tanh(a @ b), rtol=1e-6)
        tiering.wait_for_started()
        key, cache = library_parts._part_key("f32")
        hit = cache.get(key)
        print("missing" if hit is None else hit[0].get("quick"))
        """
    assert _run(tmp_path, body.replace("CALLS", "1")).split() == ["missing"]  # nothing cached yet
    assert _run(tmp_path, body.replace("CALLS", "0")).split() == ["True"]  # the last one's, parked
    assert _run(tmp_path, body.replace("CALLS", "20")).split() == ["None"]  # loaded, then optimised
    assert _run(tmp_path, body.replace("CALLS", "0")).split() == ["None"]  # as the next one finds it
