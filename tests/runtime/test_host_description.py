"""The host as LLVM names it is kept beside the compile cache, so a warm start need not load
LLVM to build its cache keys; what comes back from that file is checked like any entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tc import object_cache
from tc.codegen_llvm.host import cpu_fingerprint, host_target


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    object_cache.host_description.cache_clear()
    yield
    object_cache.host_description.cache_clear()


def test_kept_and_read_back(tmp_path: Path) -> None:
    assert object_cache.host_description() == host_target()
    if cpu_fingerprint() is None:
        pytest.skip("this system says nothing of its CPU that we read")
    (entry,) = tmp_path.rglob("*.tchost")
    header = json.loads(entry.read_bytes().split(b"\n", 1)[0])
    header["host"][1] = "a-cpu-from-the-file"
    entry.write_bytes(json.dumps(header).encode() + b"\n")
    object_cache.host_description.cache_clear()
    assert object_cache.host_description().cpu == "a-cpu-from-the-file"  # no LLVM asked


@pytest.mark.parametrize("host", [None, "znver4", ["x86_64-unknown-linux-gnu", 3, ""], [], {"cpu": 1}])
def test_a_malformed_entry_is_asked_of_llvm_again(tmp_path: Path, host: object) -> None:
    if cpu_fingerprint() is None:
        pytest.skip("this system says nothing of its CPU that we read")
    object_cache.host_description()
    (entry,) = tmp_path.rglob("*.tchost")
    header = json.loads(entry.read_bytes().split(b"\n", 1)[0])
    header["host"] = host
    entry.write_bytes(json.dumps(header).encode() + b"\n")
    object_cache.host_description.cache_clear()
    assert object_cache.host_description() == host_target()


def test_no_cache_still_describes_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_CACHE", "0")
    assert object_cache.host_description() == host_target()
