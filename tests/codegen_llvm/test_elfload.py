"""elfload links tc's object code by hand (no LLVM): the same results as MCJIT's linking,
every relocation it does not know sends the object to MCJIT, and freed code is unmapped."""

from __future__ import annotations

import ctypes
import gc
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.codegen_llvm import elfload, image_map
from tc.codegen_llvm.elfcheck import HEADER, RELOCATION, SECTION, SHT_RELA, ObjectCodeError, process_symbol

pytestmark = pytest.mark.skipif(not elfload.supported(), reason="elfload links x86-64 Linux objects")


@pytest.fixture(autouse=True)
def _optimised_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests read the optimised object from the cache as soon as a function is compiled
    (tiered compilation would write it later, or not at all for a function already dropped)."""
    monkeypatch.setattr(tc.config, "tiered", "never")


def _build():  # type: ignore[no-untyped-def]
    """A function with a product (BLAS and support-library globals), libm calls, constants
    and threads."""
    x, W = T.dmatrix("x"), tc.shared(np.linspace(-1, 1, 12).reshape(3, 4), "W")
    return tc.function([x], [T.tanh(T.dot(x, W)) + T.sin(x).sum(), T.exp(x).max(axis=1)])


@pytest.fixture()
def object_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    _build()
    (entry,) = tmp_path.rglob("*.tcobj")
    return entry.read_bytes().split(b"\n", 1)[1]


def test_linked_by_hand_or_by_mcjit_the_code_computes_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = np.random.default_rng(0).normal(size=(300, 3))
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path / "by_hand"))
    by_hand = _build()
    monkeypatch.setattr(elfload, "supported", lambda: False)
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path / "mcjit"))
    by_mcjit = _build()
    assert type(by_hand._code_owner.engine) is image_map.LoadedImage
    assert type(by_mcjit._code_owner.engine) is not image_map.LoadedImage
    for got, want in zip(by_hand(x), by_mcjit(x), strict=True):
        np.testing.assert_array_equal(got, want)


def test_calls_farther_than_2_gib_go_through_linkage_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The small code model's calls reach 2 GiB: code mapped 16 TiB up, far from libc's
    malloc and libm, calls them through its linkage entries, and computes what it does
    mapped anywhere else."""
    x = np.random.default_rng(1).normal(size=(300, 3))
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path / "near"))
    near = _build()
    far_bases = []

    def map_far(size: int) -> int:
        assert image_map._libc is not None
        flags = image_map.MAP_PRIVATE | image_map.MAP_ANONYMOUS
        writable = image_map.PROT_READ | image_map.PROT_WRITE
        address = image_map._libc.mmap(1 << 44, size, writable, flags, -1, 0)
        assert address not in (None, ctypes.c_void_p(-1).value)
        far_bases.append(int(address))
        return int(address)

    monkeypatch.setattr(image_map, "_map", map_far)
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path / "far"))
    far = _build()
    assert type(far._code_owner.engine) is image_map.LoadedImage
    malloc = process_symbol("malloc")
    assert far_bases and all(abs(base - malloc) > 1 << 32 for base in far_bases)
    for got, want in zip(far(x), near(x), strict=True):
        np.testing.assert_array_equal(got, want)


def _relocations(data: bytes) -> list[tuple[int, int]]:
    """(file offset of each RELA record's info word, its type)."""
    fields = HEADER.unpack_from(data)
    shoff, shnum = fields[6], fields[12]
    found = []
    for i in range(shnum):
        _, kind, _, _, offset, size, *_ = SECTION.unpack_from(data, shoff + i * SECTION.size)
        if kind == SHT_RELA:
            for k in range(size // RELOCATION[SHT_RELA].size):
                at = offset + k * RELOCATION[SHT_RELA].size + 8
                found.append((at, struct.unpack_from("<Q", data, at)[0] & 0xFFFFFFFF))
    return found


def test_an_unknown_relocation_type_is_not_loadable(object_code: bytes) -> None:
    data = bytearray(object_code)
    at, kind = _relocations(bytes(data))[0]
    assert kind in (elfload.R_PC32, elfload.R_PLT32, *elfload.R_GOT)
    info = struct.unpack_from("<Q", data, at)[0]
    struct.pack_into("<Q", data, at, (info & ~0xFFFFFFFF) | 26)  # R_X86_64_GOTPC32: the GOT's own address
    with pytest.raises(elfload.NotLoadable, match="relocation type 26"):
        elfload.load(bytes(data))


def test_code_is_unmapped_when_its_module_is_garbage(object_code: bytes) -> None:
    image = elfload.load(object_code)
    base = image.base
    assert base and image.get_global_value_address("tc_f") >= base
    with open("/proc/self/maps") as maps:
        assert f"{base:x}-" in maps.read()
    del image
    gc.collect()
    with open("/proc/self/maps") as maps:
        assert f"{base:x}-" not in maps.read()


def test_a_huge_uninitialised_section_is_damage_not_a_memory_error(object_code: bytes) -> None:
    data = bytearray(object_code)
    fields = HEADER.unpack_from(data)
    shoff, shnum = fields[6], fields[12]
    for i in range(shnum):
        at = shoff + i * SECTION.size
        section = list(SECTION.unpack_from(data, at))
        if section[1] == 8 and section[5]:  # SHT_NOBITS (.lbss: the globals the runtime fills)
            section[5] = 1 << 40
            SECTION.pack_into(data, at, *section)
            break
    else:
        pytest.skip("this object has no uninitialised section")
    with pytest.raises(ObjectCodeError, match="asks for"):
        elfload.load(bytes(data))


def test_perf_map_names_the_loaded_functions(object_code: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """TC_PERF_MAP=1: perf's map file for this process gets each function's address, size and
    name, so `perf report` names tc's code."""
    path = Path(f"/tmp/perf-{os.getpid()}.map")
    before = path.read_text() if path.exists() else ""
    monkeypatch.setenv("TC_PERF_MAP", "1")
    image = elfload.load(object_code)
    try:
        added = path.read_text()[len(before) :].splitlines()
    finally:
        if before:
            path.write_text(before)
        else:
            path.unlink()
    fields = [line.split() for line in added]
    entries = {name: (int(start, 16), int(size, 16)) for start, size, name in fields}
    start, size = entries["tc_f"]
    assert start == image.get_global_value_address("tc_f") and size > 0
    assert all(image.base <= s < image.base + image.size for s, _ in entries.values())
