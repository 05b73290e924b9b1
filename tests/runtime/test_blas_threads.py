"""OpenBLAS's idle threads are made to sleep after 2^IDLE_CYCLES_LOG2 cycles (runtime/
blas_threads.py) instead of yielding for a tenth of a second against tc's own threads."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tc.runtime import blas, blas_threads


def _numpys_openblas() -> Path:
    package, pattern, _, _ = blas._BUNDLED[0]
    path = blas.bundled_library(package, pattern)
    if path is None:
        pytest.skip("this numpy does not bundle libscipy_openblas64_")
    return path


def _timeout_word(path: Path) -> int:
    values = blas_threads.symbol_values(path, (b"thread_timeout", b"openblas_thread_timeout"))
    if len(values) != 2:
        pytest.skip("this OpenBLAS has no symbol table to find its thread_timeout in")
    library = ctypes.CDLL(str(path))
    anchor = ctypes.cast(library.openblas_thread_timeout, ctypes.c_void_p).value
    assert anchor is not None
    address = anchor - values[b"openblas_thread_timeout"] + values[b"thread_timeout"]
    return ctypes.c_uint32.from_address(address).value


def test_loading_numpys_openblas_shortens_its_threads_idle_spin(monkeypatch: pytest.MonkeyPatch) -> None:
    path = _numpys_openblas()
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    assert blas_threads.shorten_idle_spin(path, ctypes.CDLL(str(path)))
    assert _timeout_word(path) == 1 << blas_threads.IDLE_CYCLES_LOG2


def test_a_timeout_the_user_set_is_left_as_openblas_read_it() -> None:
    path = _numpys_openblas()
    code = (
        "import ctypes, tc.runtime.blas as blas, tc.runtime.blas_threads as bt; "
        f"print(bool(blas.blas_routines()), bt.shorten_idle_spin({str(path)!r}, ctypes.CDLL({str(path)!r})))"
    )
    env = {**os.environ, "OPENBLAS_THREAD_TIMEOUT": "20"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.stdout.split() == ["True", "False"], done.stderr


def test_files_without_the_symbols_are_left_alone(tmp_path: Path) -> None:
    not_elf = tmp_path / "not_elf.so"
    not_elf.write_bytes(b"just text, no ELF header" * 10)
    with pytest.raises(ValueError):
        blas_threads.symbol_values(not_elf, (b"thread_timeout",))
    assert not blas_threads.shorten_idle_spin(not_elf, ctypes.CDLL(None))
    # an ELF file (the Python interpreter) that defines neither name
    assert blas_threads.symbol_values(Path(sys.executable).resolve(), (b"thread_timeout",)) == {}


def test_the_symbols_found_are_kept_in_the_compile_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _numpys_openblas()
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    names = (b"thread_timeout", b"openblas_thread_timeout")
    read = []
    real = blas_threads.symbol_values
    monkeypatch.setattr(blas_threads, "symbol_values", lambda *a: read.append(a) or real(*a))
    first = blas_threads._cached_symbol_values(path, names)
    again = blas_threads._cached_symbol_values(path, names)
    assert first == again == real(path, names)
    assert len(read) == 1  # the second came from the cache
    (entry,) = tmp_path.rglob("*.tcsyms")
    entry.write_bytes(entry.read_bytes()[:-3])  # damaged: its checksum no longer matches
    assert blas_threads._cached_symbol_values(path, names) == first
    assert len(read) == 2
