"""The compile cache does not trust its files: whatever is on disk, `tc.function` either
loads the right code or rebuilds it; it never runs another key's code, crashes, hangs,
or needs to write in order to read.

Cases that used to crash the interpreter run in a subprocess, so a crash fails the test
instead of killing pytest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

import tc
import tc.codegen_llvm.jit as jit
from tc import tensor as T
from tc.codegen_llvm.elfcheck import ObjectCodeError, check_object
from tc.runtime import cache as cache_module


@pytest.fixture(scope="module", autouse=True)
def _optimised_at_once():  # type: ignore[no-untyped-def]
    """These tests read and damage the entries a compile writes, which quick code's background
    optimisation (tc/tiering.py) writes only later: here everything is optimised at once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tc.config, "tiered", "never")
        patch.setenv("TC_TIERED", "never")  # (and in the processes the tests start)
        yield


# Compiles `sin(x) * 5` (its object code links libm's sin), lets MUTATION damage its cache
# entry, then compiles it again.
REBUILD = """
import json, hashlib, os, struct, sys
from pathlib import Path
import numpy as np
import tc
import tc.codegen_llvm.jit as jit
from tc import tensor as T

directory, mutation = Path(sys.argv[1]), sys.argv[2]
x = T.dvector("x")
tc.function([x], x + 1)
plus_one = set(directory.rglob("*.tcobj"))
tc.function([x], T.sin(x) * 5)
(entry,) = set(directory.rglob("*.tcobj")) - plus_one
(other,) = plus_one

def rewrite(header, payload):
    header = dict(header, sha256=hashlib.sha256(payload).hexdigest())  # a consistent checksum
    entry.write_bytes(json.dumps(header).encode() + b"\\n" + payload)

line, payload = entry.read_bytes().split(b"\\n", 1)
header = json.loads(line)
MUTATION
before = jit.compile_count
result = tc.function([x], T.sin(x) * 5)(np.arange(3.0))
assert np.allclose(result, np.sin(np.arange(3.0)) * 5), result
assert jit.compile_count == before + 1, "the damaged entry was not rebuilt"
again = jit.compile_count
assert np.allclose(tc.function([x], T.sin(x) * 5)(np.arange(3.0)), np.sin(np.arange(3.0)) * 5)
assert jit.compile_count == again, "the rebuilt entry was not stored"
print("ok")
"""

MUTATIONS = {
    # another key's entry, copied under this key: its object code defines the same symbol
    "swapped": "entry.write_bytes(other.read_bytes())",
    "swapped-link": "entry.unlink(); entry.symlink_to(other)",
    "garbage": "rewrite(header, os.urandom(len(payload)))",
    "zeros": "rewrite(header, bytes(len(payload)))",
    "truncated-object": "rewrite(header, payload[: len(payload) // 2])",
    "section-table-past-end": "rewrite(header, payload[:40] + struct.pack('<Q', 1 << 20) + payload[48:])",
    "every-word-flipped": (
        "data = bytearray(payload)\n"
        "for i in range(64, len(data), 97): data[i] ^= 0xFF\n"
        "rewrite(header, bytes(data))"
    ),
    "other-machine": "rewrite(header, payload[:18] + bytes([payload[18] ^ 0x80, 0]) + payload[20:])",
    "no-entry-symbol": "rewrite(header, payload.replace(b'tc_f', b'tc_g'))",
    # a name the process lacks: MCJIT links it as address 0, and a call jumps there
    "unresolved-symbol": "rewrite(header, payload.replace(b'\\0sin\\0', b'\\0siX\\0'))",
    "header-not-an-object": "entry.write_bytes(b'[1, 2]\\n' + payload)",
    "header-deeply-nested": "entry.write_bytes(b'[' * 100000 + b'\\n' + payload)",
    "header-stages-not-text": "rewrite(dict(header, stages=[1]), payload)",
    "no-key": "rewrite({k: v for k, v in header.items() if k != 'key'}, payload)",
    "directory": "entry.unlink(); entry.mkdir(); (entry / 'inside').write_text('x')",
    "fifo": "entry.unlink(); os.mkfifo(entry)",
    "empty": "entry.write_bytes(b'')",
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_damaged_entry_is_rebuilt_never_run(tmp_path: Path, mutation: str) -> None:
    script = REBUILD.replace("MUTATION", MUTATIONS[mutation])
    env = dict(os.environ, TC_CACHE_DIR=str(tmp_path), TC_NUM_THREADS="1")
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path), mutation],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{mutation}: compiling hung on the damaged entry")
    assert done.returncode == 0 and done.stdout.strip() == "ok", (
        f"{mutation}: exit status {done.returncode}\n{done.stderr[-3000:]}"
    )


# -- the object code check on its own --------------------------------------------------------


@pytest.fixture(scope="module")
def object_code() -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        os.environ["TC_CACHE_DIR"], previous = directory, os.environ["TC_CACHE_DIR"]
        try:
            x = T.dvector("x")
            tc.function([x], T.sin(x) * 3)  # libm's sin: the exact fallback of huge arguments
            (entry,) = Path(directory).rglob("*.tcobj")
            return entry.read_bytes().split(b"\n", 1)[1]
        finally:
            os.environ["TC_CACHE_DIR"] = previous


def test_real_object_code_passes_the_check(object_code: bytes) -> None:
    check_object(object_code, ["tc_f"])


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[:10],
        lambda d: b"\x7fELF" + bytes(200),
        lambda d: d[:4] + b"\x01" + d[5:],  # 32-bit
        lambda d: d[:16] + struct.pack("<H", 3) + d[18:],  # a shared object, not relocatable
        lambda d: d[:60] + struct.pack("<H", 0xFFFF) + d[62:],  # section count
        lambda d: d[:62] + struct.pack("<H", 0) + d[64:],  # string table index
        lambda d: d[: len(d) - 64],  # the last section header cut off
    ],
)
def test_damaged_object_code_fails_the_check(object_code: bytes, damage) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ObjectCodeError):
        check_object(damage(object_code), ["tc_f"])


def test_every_section_and_relocation_is_checked(object_code: bytes) -> None:
    """Out-of-range fields in each section header and each relocation are caught."""
    shoff, shnum = struct.unpack_from("<Q", object_code, 40)[0], struct.unpack_from("<H", object_code, 60)[0]
    caught = 0
    for index in range(1, shnum):
        header = shoff + index * 64
        (kind,) = struct.unpack_from("<I", object_code, header + 4)
        (offset,) = struct.unpack_from("<Q", object_code, header + 24)
        for field, value in ((24, len(object_code) + 1), (40, shnum + 5)):  # offset, link
            if kind == 8 and field == 24:
                continue  # .bss has no bytes in the file
            bad = bytearray(object_code)
            struct.pack_into("<Q" if field == 24 else "<I", bad, header + field, value)
            with pytest.raises(ObjectCodeError):
                check_object(bytes(bad), ["tc_f"])
            caught += 1
        if kind == 4:  # RELA: point the first relocation past its section, then at no symbol
            for position, value in ((offset, 1 << 40), (offset + 8, 0xFFFFFF << 32 | 1)):
                bad = bytearray(object_code)
                struct.pack_into("<Q", bad, position, value)
                with pytest.raises(ObjectCodeError):
                    check_object(bytes(bad), ["tc_f"])
                caught += 1
    assert caught > 10


def test_a_symbol_the_process_lacks_fails_the_check(object_code: bytes) -> None:
    assert b"sin\0" in object_code
    with pytest.raises(ObjectCodeError, match="sxn"):
        check_object(object_code.replace(b"sin\0", b"sxn\0"), ["tc_f"])


def test_a_missing_entry_point_fails_the_check(object_code: bytes) -> None:
    with pytest.raises(ObjectCodeError, match="tc_g"):
        check_object(object_code, ["tc_f", "tc_g"])


# -- the cache directory -----------------------------------------------------------------------


def _compile():  # type: ignore[no-untyped-def]
    x = T.dvector("x")
    return tc.function([x], x * 5)


def test_a_new_cache_directory_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "fresh" / "cache"
    monkeypatch.setenv("TC_CACHE_DIR", str(directory))
    _compile()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    (entry,) = directory.rglob("*.tcobj")
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(entry.stat().st_mode) & 0o077 == 0


@pytest.mark.parametrize("why", ["group-writable", "world-writable", "another user's"])
def test_a_cache_others_can_write_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    directory = tmp_path / "shared-cache"
    directory.mkdir()
    monkeypatch.setenv("TC_CACHE_DIR", str(directory))
    if why == "another user's":
        owner = directory.stat().st_uid
        monkeypatch.setattr(os, "geteuid", lambda: owner + 1)
    else:
        directory.chmod(0o770 if why == "group-writable" else 0o777)
    monkeypatch.setattr(cache_module, "_warned", set())
    before = jit.compile_count
    with pytest.warns(UserWarning, match="not using the compile cache"):
        _compile()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per directory, not once per function
        assert _compile()(np.arange(2.0)).tolist() == [0.0, 5.0]
    assert jit.compile_count == before + 2 and not list(directory.rglob("*"))


def test_a_read_only_cache_serves_hits_and_survives_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading must never require writing. The directories are made read-only; as root,
    where that does not stop writes, every call that could write is made to fail too."""
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    _compile()
    (entry,) = tmp_path.rglob("*.tcobj")
    good = entry.read_bytes()

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    directories = [tmp_path, entry.parent]
    for directory in directories:
        directory.chmod(0o500)
    try:
        if os.geteuid() == 0:
            for name in ("unlink", "remove", "rmdir", "replace", "rename", "mkdir"):
                monkeypatch.setattr(os, name, refuse)
            monkeypatch.setattr(Path, "unlink", refuse)
            monkeypatch.setattr(Path, "mkdir", refuse)
            monkeypatch.setattr(shutil, "rmtree", refuse)
            monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
        before = jit.compile_count
        assert _compile()(np.arange(2.0)).tolist() == [0.0, 5.0]
        assert jit.compile_count == before  # a hit, read without writing
        _write_as_owner(entry, good[:-40])  # damaged: the checksum no longer matches
        assert _compile()(np.arange(2.0)).tolist() == [0.0, 5.0]
        assert jit.compile_count == before + 1
        assert entry.read_bytes() == good[:-40]  # left alone: it could not be replaced
    finally:
        monkeypatch.undo()
        for directory in directories:
            directory.chmod(0o700)


def _write_as_owner(path: Path, data: bytes) -> None:
    """Overwrite a file in a read-only directory (the file itself stays writable)."""
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(data)


def test_an_entry_replaced_by_a_directory_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    _compile()
    (entry,) = tmp_path.rglob("*.tcobj")
    entry.unlink()
    entry.mkdir()
    (entry / "something").write_text("not an entry")
    before = jit.compile_count
    assert _compile()(np.arange(2.0)).tolist() == [0.0, 5.0]
    assert jit.compile_count == before + 1 and entry.is_file()
    _compile()
    assert jit.compile_count == before + 1  # the rebuilt entry is a hit


def test_a_valid_json_header_that_is_not_an_object_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    _compile()
    (entry,) = tmp_path.rglob("*.tcobj")
    for header in (b"[1, 2]", b"null", b'"text"', b"42"):
        payload = entry.read_bytes().split(b"\n", 1)[1] if entry.exists() else b""
        entry.write_bytes(header + b"\n" + payload)
        before = jit.compile_count
        assert _compile()(np.arange(2.0)).tolist() == [0.0, 5.0]
        assert jit.compile_count == before + 1


def test_an_entry_is_bound_to_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The header names the key: an entry renamed to another key is a miss, even with a
    consistent checksum."""
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    store = cache_module.CompileCache(tmp_path)
    store.put("ab" + "0" * 62, {"stages": {}}, b"payload")
    assert store.get("ab" + "0" * 62) == (
        {
            "stages": {},
            "format": cache_module.FORMAT,
            "key": "ab" + "0" * 62,
            "sha256": hashlib.sha256(b"payload").hexdigest(),
        },
        b"payload",
    )
    source = tmp_path / "ab" / ("ab" + "0" * 62 + ".tcobj")
    target = tmp_path / "ab" / ("ab" + "1" * 62 + ".tcobj")
    target.write_bytes(source.read_bytes())
    assert store.get("ab" + "1" * 62) is None
    header = json.loads(source.read_bytes().split(b"\n", 1)[0])
    assert header["key"] == "ab" + "0" * 62
