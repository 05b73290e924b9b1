"""The support library tc ships prebuilt for baseline CPUs (tc/prebuilt_library.py): made from
this very source, served to an empty compile cache where the host runs the baseline as its
own, computing what numpy computes, and never served stale, damaged or where not wanted."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tc import prebuilt_library
from tc.frontend.config import config

MANIFEST = prebuilt_library.read_manifest()


def test_the_prebuilt_parts_are_made_from_this_source() -> None:
    assert MANIFEST is not None, "tc/prebuilt/manifest.json is missing"
    stale = prebuilt_library.stale_sources(MANIFEST)
    assert not stale, f"the code generator changed ({stale}): run python -m tc.tools.prebuild_library"
    assert "tc.codegen_llvm.support" in MANIFEST["sources"]
    for baseline in prebuilt_library.BASELINES:
        for part in prebuilt_library.PARTS:
            data = (prebuilt_library.FOLDER / prebuilt_library.object_name(baseline.name, part)).read_bytes()
            assert hashlib.sha256(data).hexdigest() == MANIFEST["baselines"][baseline.name][part]["sha256"]


def _host_features() -> set[str]:
    from tc.codegen_llvm.jit import host_cpu

    return {f[1:] for f in host_cpu()[1].split(",") if f.startswith("+")}


RUNNABLE = [b.name for b in prebuilt_library.BASELINES if set(b.features) <= _host_features()]

# Products that take each kernel of the library: small_gemm (20 x 784 . 784 x 50), narrow_gemm
# (600 x 784 . 784 x 10), outer_gemm (x^T . g, g 600 x 10), tx.gemm's update, and a product by
# BLAS's size; float32 and float64.
SCRIPT = """
import json, sys
import numpy as np
import tc, tc.tensor as T
from tc.codegen_llvm import jit, support
if sys.argv[1] != "host":
    from tc.prebuilt_library import BASELINES
    baseline = next(b for b in BASELINES if b.name == sys.argv[1])
    jit.generate_for_cpu(baseline.name, baseline.llvm_features())  # a host of that baseline
made = []
real = support.support_object
support.support_object = lambda text, quick=False: made.append(quick) or real(text, quick)
rng = np.random.default_rng(0)
for dtype in ("float32", "float64"):
    a, b, w = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype), T.matrix("w", dtype=dtype)
    f = tc.function([a, b, w], [T.dot(a, b), w - 0.5 * T.dot(a.T, T.dot(a, b))])
    for m, k, n in ((20, 784, 50), (600, 784, 10), (300, 200, 400)):
        x, y = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
        v = rng.standard_normal((k, n)).astype(dtype)
        got, update = f(x, y, v)
        tol = 1e-4 if dtype == "float32" else 1e-10
        np.testing.assert_allclose(got, x @ y, rtol=tol, atol=tol * k)
        np.testing.assert_allclose(update, v - 0.5 * x.T @ (x @ y), rtol=tol, atol=tol * k * m)
print(len(made))
tc.finish_compiling()  # the products optimised for the host, in the background until now
print(json.dumps(sorted(made)))
"""


def _run(tmp_path: Path, baseline: str, **env: str) -> list[Any]:
    settings = {"TC_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin", "TC_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, baseline],
        capture_output=True,
        text=True,
        env=settings | env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.parametrize("baseline", RUNNABLE)
def test_an_empty_cache_computes_with_the_prebuilt_products(tmp_path: Path, baseline: str) -> None:
    """No part is made before the first results; then each dtype's products are optimised
    for the host, and the next process finds everything in the cache."""
    made_first, made_later = _run(tmp_path, baseline)
    assert made_first == 0
    assert made_later == [False, False]  # float32's and float64's, optimised
    assert _run(tmp_path, baseline) == [0, []]


def test_without_the_prebuilt_library_the_parts_are_made(tmp_path: Path) -> None:
    made_first, _ = _run(tmp_path, "host", TC_PREBUILT_LIBRARY="0")
    assert made_first == 4  # the packed call, the pool, and each dtype's products quick


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Any:
    """prebuilt_library with its choice of baseline asked again."""
    prebuilt_library._usable_baseline.cache_clear()
    yield monkeypatch
    prebuilt_library._usable_baseline.cache_clear()


@pytest.mark.skipif(not RUNNABLE, reason="the host runs no prebuilt baseline")
def test_what_is_served_and_when(fresh: pytest.MonkeyPatch) -> None:
    if not prebuilt_library.serves("f32"):
        pytest.skip("the host's vector width has no baseline it runs")
    found = prebuilt_library.prebuilt_part("f64")
    assert found is not None and found[0] in RUNNABLE
    fresh.setattr(config, "tiered", "never")  # products optimised for the host before any call
    assert not prebuilt_library.serves("f64") and prebuilt_library.serves("call")
    fresh.setattr(config, "tiered", "always")
    fresh.setattr(config, "prebuilt_library", False)
    assert prebuilt_library.prebuilt_part("call") is None


def test_a_changed_source_is_never_served(fresh: pytest.MonkeyPatch) -> None:
    assert MANIFEST is not None
    changed = json.loads(json.dumps(MANIFEST))
    changed["sources"]["tc.codegen_llvm.small_gemm"] = "0" * 64
    fresh.setattr(prebuilt_library, "read_manifest", lambda: changed)
    assert prebuilt_library.stale_sources(changed) == ["tc.codegen_llvm.small_gemm"]
    assert not any(prebuilt_library.serves(part) for part in prebuilt_library.PARTS)


def test_a_damaged_object_is_never_served(fresh: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not prebuilt_library.serves("f32"):
        pytest.skip("the host takes no prebuilt library")
    for name in ("manifest.json", *(p.name for p in prebuilt_library.FOLDER.glob("*.o"))):
        data = (prebuilt_library.FOLDER / name).read_bytes()
        (tmp_path / name).write_bytes(data[:-16] if name.endswith("-f32.o") else data)
    fresh.setattr(prebuilt_library, "FOLDER", tmp_path)
    assert prebuilt_library.prebuilt_part("f32") is None
    assert prebuilt_library.prebuilt_part("f64") is not None


def _record_line(path: str, data: bytes) -> str:
    import base64

    encoded = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={encoded},{len(data)}"


def test_an_installed_wheels_record_stands_for_its_sources(tmp_path: Path, monkeypatch: Any) -> None:
    """In a wheel install the sources count by the SHA-256 pip checked them against (RECORD);
    a source the RECORD lists otherwise, or not at all, is read and hashed."""
    from tc.runtime.cache import recorded_hashes, recorded_sha256

    info = tmp_path / "tc-0.1.0.dist-info"
    info.mkdir()
    lines = [
        _record_line("tc/codegen_llvm/jit.py", b"jit source"),
        _record_line("tc/codegen_llvm/__init__.py", b"package source"),
        "tc-0.1.0.dist-info/RECORD,,",
    ]
    (info / "RECORD").write_text("\n".join(lines) + "\n")
    recorded = recorded_hashes(str(tmp_path))
    digest = recorded_sha256(b"jit source")
    assert f"tc/codegen_llvm/jit.py,{digest}," in lines[0]  # the form pip writes
    recorded_as = prebuilt_library._recorded_as
    assert recorded_as(recorded, "tc.codegen_llvm.jit", digest)
    assert recorded_as(recorded, "tc.codegen_llvm", recorded_sha256(b"package source"))
    assert not recorded_as(recorded, "tc.codegen_llvm.jit", recorded_sha256(b"other"))
    assert not recorded_as(recorded, "tc.codegen_llvm.loops", digest)
    assert not recorded_as(recorded, "tc.codegen_llvm.loops", None)  # type: ignore[arg-type]  # damaged
    assert recorded_hashes(str(tmp_path / "nowhere")) == {}

    hashed: list[str] = []
    monkeypatch.setattr(prebuilt_library, "recorded_hashes", lambda site: recorded)
    monkeypatch.setattr(prebuilt_library, "source_hash", lambda name: hashed.append(name) or "read")
    sources = {"tc.codegen_llvm.jit": digest, "tc.codegen_llvm.loops": "read", "tc.ir.core": "x"}
    manifest = {"sources": sources}
    assert prebuilt_library.stale_sources(manifest) == ["tc.ir.core"]
    assert hashed == ["tc.codegen_llvm.loops", "tc.ir.core"]  # the recorded one is not read
