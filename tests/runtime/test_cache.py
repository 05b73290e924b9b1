"""The on-disk compile cache: hits compile nothing, damaged entries are rebuilt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tc
import tc.codegen_llvm.jit as jit
from tc import tensor as T


@pytest.fixture(scope="module", autouse=True)
def _optimised_at_once():  # type: ignore[no-untyped-def]
    """These tests read and damage the entries a compile writes, which quick code's background
    optimisation (tc/tiering.py) writes only later: here everything is optimised at once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tc.config, "tiered", "never")
        patch.setenv("TC_TIERED", "never")  # (and in the processes the tests start)
        yield


def _compile():  # type: ignore[no-untyped-def]
    x = T.dvector("x")
    return tc.function([x], T.tanh(x) * 3 - 1)


def test_second_compile_is_a_cache_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    before = jit.compile_count
    first = _compile()
    assert jit.compile_count == before + 1 and len(list(tmp_path.rglob("*.tcobj"))) == 1
    second = _compile()
    assert jit.compile_count == before + 1  # loaded, not compiled
    data = np.linspace(-2, 2, 9)
    assert first(data).tobytes() == second(data).tobytes()
    assert "define" in second.dump("llvm-opt") and second.dump("asm")


def test_damaged_entries_are_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    _compile()
    (entry,) = tmp_path.rglob("*.tcobj")
    entry.write_bytes(entry.read_bytes()[:-50])  # truncated
    before = jit.compile_count
    f = _compile()
    assert jit.compile_count == before + 1
    np.testing.assert_allclose(f([0.5]), np.tanh([0.5]) * 3 - 1)
    entry.write_bytes(b"not a cache entry")
    assert _compile()([0.0]).tolist() == [-1.0]


def test_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TC_CACHE", "0")
    before = jit.compile_count
    _compile()
    _compile()
    assert jit.compile_count == before + 2 and not list(tmp_path.rglob("*.tcobj"))


def test_the_same_graph_built_on_another_line_names_its_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass cache is keyed and kept with locations: a cached pipeline never reports the
    line of the graph that filled it."""
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    first = T.dvector("a") + T.dvector("b")  # noqa: F841  (line A)
    a, b = T.dvector("a"), T.dvector("b")
    tc.function([first.owner.inputs[0], first.owner.inputs[1]], first)
    second = a + b  # line B
    g = tc.function([a, b], second)
    with pytest.raises(tc.TcShapeError) as info:
        g(np.ones(2), np.ones(3))
    assert f"test_cache.py:{second.owner.location.line}" in str(info.value)


def test_an_installed_wheel_counts_by_its_record_and_a_source_tree_by_its_files(tmp_path: Path) -> None:
    from tc.runtime import cache

    site = tmp_path / "site-packages"
    (site / "tc" / "ir").mkdir(parents=True)
    (site / "tc" / "ir" / "__init__.py").write_text("")
    info = site / "tc-0.1.0.dist-info"
    info.mkdir()
    record = info / "RECORD"
    folder = str(site / "tc" / "ir")

    def digest() -> str | None:
        cache._wheel_record.cache_clear()
        return cache.installed_record(folder, "ir")

    record.write_text("tc/__init__.py,sha256=aaa,10\ntc/ir/__init__.py,sha256=bbb,0\n")
    first = digest()
    assert first is not None
    record.write_text("tc/__init__.py,sha256=aaa,10\ntc/ir/__init__.py,sha256=ccc,4\n")  # a file changed
    assert digest() not in (None, first)
    record.write_text("tc/__init__.py,sha256=aaa,10\n")  # a RECORD that does not list the package
    assert digest() is None
    record.unlink()
    assert digest() is None
    # A source tree (an editable install: the package's folder is not inside a `tc` folder)
    # counts by its files even beside a tc wheel's RECORD.
    (tmp_path / "main" / "ir").mkdir(parents=True)
    (tmp_path / "tc-0.1.0.dist-info").mkdir()
    (tmp_path / "tc-0.1.0.dist-info" / "RECORD").write_text("tc/ir/__init__.py,sha256=bbb,0\n")
    assert cache.installed_record(str(tmp_path / "main" / "ir"), "ir") is None
    cache._wheel_record.cache_clear()
