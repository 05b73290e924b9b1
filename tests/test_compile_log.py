"""TC_LOG_COMPILES / tc.config.log_compiles: one line per compile, the seconds of each stage."""

from __future__ import annotations

import re
import secrets

import pytest

import tc
from tc import tensor as T


def _compile() -> None:
    x = T.dvector("x")
    tc.function([x], T.tanh(x) * secrets.randbelow(10**9))  # a new constant: a new cache key


def test_a_compile_prints_its_stages(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tc.config, "log_compiles", True)
    monkeypatch.setattr(tc.config, "tiered", "never")  # optimised at once (quick code: below)
    x = T.dvector("x")
    constant = secrets.randbelow(10**9)
    y = T.tanh(x) * constant
    logs = []
    for _ in range(2):  # the same graph from the same line: the second compile is all cached
        tc.function([x], y)
        logs.append(capsys.readouterr().err.strip().splitlines())
    first, second = logs
    assert len(first) == 1 and first[0].startswith("tc: compiled f in ")
    assert "(cache miss)" in first[0]
    for stage in ("build", "passes", "shape plans", "llvm-ir", "llvm-o3", "object", "load", "functions"):
        assert f"{stage} " in first[0], stage
    assert len(second) == 1 and "cache hit)" in second[0] and "llvm-o3" not in second[0]
    # Nor the building and the passes: their results are cached by the graph they started from.
    assert "(graph cached: nothing built, cache hit)" in second[0]
    assert not re.search(r"(passes|build) \d", second[0])


def test_quick_code_prints_its_stages_and_the_optimised_code_is_cached_for_the_next(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tc.config, "log_compiles", True)
    monkeypatch.setattr(tc.config, "tiered", "always")  # (the default, unless TC_TIERED says otherwise)
    x = T.dvector("x")
    y = T.tanh(x) * secrets.randbelow(10**9)
    f = tc.function([x], y)
    (first,) = capsys.readouterr().err.strip().splitlines()
    assert "(cache miss, quick code, optimised in the background once called enough)" in first
    assert "llvm-ir " in first and "object " in first and "llvm-o3" not in first
    assert "define" in f.dump("llvm-opt")  # asking for it optimises f's module now, and caches it
    g = tc.function([x], y)
    (second,) = capsys.readouterr().err.strip().splitlines()
    assert "cache hit)" in second and "llvm" not in second  # (g is made on another line: passes run)
    assert f([0.5]).tolist() == g([0.5]).tolist()


def test_nothing_is_printed_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert not tc.config.log_compiles  # TC_LOG_COMPILES is not set for the tests
    _compile()
    assert capsys.readouterr().err == ""
