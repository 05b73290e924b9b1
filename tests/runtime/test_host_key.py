"""The compile cache keys code by the CPU it was compiled for: by what the operating system
says of the CPU where it says something (no LLVM loaded to ask), else by LLVM's name for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tc import object_cache
from tc.codegen_llvm import host, target


@pytest.fixture(autouse=True)
def fresh():  # type: ignore[no-untyped-def]
    object_cache.host_key.cache_clear()
    host.cpu_fingerprint.cache_clear()
    yield
    object_cache.host_key.cache_clear()
    host.cpu_fingerprint.cache_clear()


def test_the_cpu_fingerprint_names_the_cpu_not_its_clock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    block = (
        "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu MHz\t\t: {mhz}\nflags\t\t: fpu sse2 avx2\n"
        "\nprocessor\t: 1\n"
    )
    monkeypatch.setattr(host, "CPUINFO", str(cpuinfo))
    monkeypatch.setattr(host.sys, "platform", "linux")
    prints = []
    for mhz, flags in (("2000.0", "avx2"), ("3500.1", "avx2"), ("2000.0", "avx512f")):
        cpuinfo.write_text(block.format(mhz=mhz).replace("avx2", flags))
        host.cpu_fingerprint.cache_clear()
        prints.append(host.cpu_fingerprint())
    assert prints[0] == prints[1] != prints[2] and prints[0] is not None
    many = " ".join(f"feature{n}" for n in range(1000))  # a block of several reads
    for last in ("avx2", "avx512f"):
        cpuinfo.write_text(block.format(mhz="2000.0").replace("avx2", f"{many} {last}"))
        host.cpu_fingerprint.cache_clear()
        prints.append(host.cpu_fingerprint())
    assert None is not prints[3] != prints[4] != prints[0]
    cpuinfo.write_text("processor\t: 0\nmodel name\t: a CPU\n\n")  # nothing about what it can do
    host.cpu_fingerprint.cache_clear()
    assert host.cpu_fingerprint() is None


def test_without_a_fingerprint_the_key_is_llvms_description(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "cpu_fingerprint", lambda: None)
    described = target.host_target()
    assert object_cache.host_key() == (described.triple, described.cpu, described.features)


def test_with_a_fingerprint_the_key_needs_no_llvm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "cpu_fingerprint", lambda: "f" * 64)
    monkeypatch.setattr(target, "host_target", lambda: pytest.fail("LLVM was asked"))
    assert object_cache.host_key() == ("cpu", "f" * 64)
