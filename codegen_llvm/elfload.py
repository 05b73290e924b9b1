"""Load a relocatable x86-64 ELF object into the process without LLVM.

A warm start (the compile cache holds the object code) spent most of its time importing
llvmlite's LLVM library (about 35 ms) to let MCJIT link a few kilobytes. The objects tc
emits are simple to link by hand. They use the small code model, position-independent
(LLVM's fast instruction selection handles its calls and global loads, not the large
model's: the logistic regression's quick code emitted in 13.3 ms, not 16.0): PC-relative
32-bit words within the object, calls to the process's functions (R_X86_64_PLT32), which
may lie farther than 2 GiB and then go through a jump in a linkage entry after the code, and
loads of global addresses through a slot (the GOT relocations), which is the same entry's
address word. This loader lays the allocated sections out in one private mapping (code
and linkage entries, read-only data, writable data, each on pages of its own), writes every
relocation, and turns the code pages executable and the read-only ones read-only. External
symbols (libc's malloc, libm's tanh) come from the process, as they do for MCJIT. Unwind
tables (.eh_frame) are not registered: nothing unwinds through tc's code.

Anything this loader does not know (a relocation type, a symbol the process lacks, a
PC-relative word out of its range, another machine) raises NotLoadable and the caller
links with MCJIT instead. The bytes have passed elfcheck's structural check first; a
section of more than a gibibyte (an uninitialised one, which that check cannot bound by the
file's size) is damage, an ObjectCodeError.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys

from .elfcheck import (
    HEADER,
    RELOCATION,
    SECTION,
    SHT_NOBITS,
    SHT_REL,
    SHT_RELA,
    SHT_SYMTAB,
    SYMBOL,
    ObjectCodeError,
    machine_name,
    process_symbol,
)

SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHN_ABS = 0xFFF1
STT_FUNC = 2
R_NONE, R_64, R_PC32, R_PLT32, R_32, R_32S, R_PC64 = 0, 1, 2, 4, 10, 11, 24
R_GOT = (9, 41, 42)  # R_X86_64_GOTPCREL, GOTPCRELX, REX_GOTPCRELX: a PC-relative word to a slot
# A linkage entry: `jmp [rip + 0]` then the symbol's address, the slot GOT relocations name.
ENTRY = 16
JUMP = b"\xff\x25\x00\x00\x00\x00"
PAGE = os.sysconf("SC_PAGESIZE")
# mmap(2)'s flags on Linux, the only system this loader serves (`supported`): the values, not
# the mmap module, whose import cost every warm start 0.2 ms
PROT_READ, PROT_WRITE, PROT_EXEC, MAP_PRIVATE, MAP_ANONYMOUS = 0x1, 0x2, 0x4, 0x02, 0x20
MAX_SECTION = 1 << 30  # bytes; tc's objects hold kilobytes, a larger one is damaged


class NotLoadable(Exception):
    """The object needs something this loader does not do; MCJIT can still link it."""


def supported() -> bool:
    return sys.platform == "linux" and machine_name().lower() in ("x86_64", "amd64")


_libc = ctypes.CDLL(None, use_errno=True) if supported() else None
if _libc is not None:
    _libc.mmap.restype = ctypes.c_void_p
    _libc.mmap.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    _libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    _libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


class LoadedImage:
    """An object's sections mapped into the process; unmapped when garbage. Offers
    `get_global_value_address` like an MCJIT engine, so NativeModule can hold either."""

    def __init__(self, base: int, size: int, symbols: dict[str, int]) -> None:
        self.base, self.size, self.symbols = base, size, symbols

    def get_global_value_address(self, name: str) -> int:
        return self.symbols.get(name, 0)

    def __del__(self) -> None:
        if self.base and _libc is not None:
            _libc.munmap(self.base, self.size)
            self.base = 0


def load(data: bytes) -> LoadedImage:
    """Map and link the relocatable object `data` (checked by elfcheck.check_object)."""
    if _libc is None:
        raise NotLoadable("not an x86-64 Linux process")
    view = memoryview(data)
    fields = HEADER.unpack_from(view)
    shoff, shnum = fields[6], fields[12]
    sections = [SECTION.unpack_from(view, shoff + i * SECTION.size) for i in range(shnum)]
    linked = _linked_symbols(view, sections)
    offsets, size, regions, table = _lay_out(sections, len(linked) * ENTRY)
    image = bytearray(size)
    for index, at in offsets.items():
        _, kind, _, _, offset, length, *_ = sections[index]
        if kind != SHT_NOBITS:
            image[at : at + length] = view[offset : offset + length]
    base = _map(size)
    try:
        symbols, addresses = _symbols(view, sections, offsets, base)
        entries = {symbol: table + n * ENTRY for n, symbol in enumerate(linked)}
        for symbol, at in entries.items():
            image[at : at + len(JUMP) + 8] = JUMP + struct.pack("<Q", addresses[symbol])
        for index, (_, kind, _, _, offset, length, _, target, _, _) in enumerate(sections):
            if kind == SHT_RELA and target in offsets:
                records = view[offset : offset + length]
                _relocate(records, image, offsets[target], base, addresses, entries)
            elif kind == SHT_REL:  # never emitted for x86-64
                raise NotLoadable(f"REL relocations in section {index}")
        ctypes.memmove(base, bytes(image), size)
        for start, end, protection in regions:
            if end > start and _libc.mprotect(base + start, end - start, protection) != 0:
                raise NotLoadable(f"mprotect failed (errno {ctypes.get_errno()})")
    except BaseException:
        _libc.munmap(base, size)
        raise
    if os.environ.get("TC_PERF_MAP", "0") not in ("", "0"):
        write_perf_map(view, sections, offsets, base)
    return LoadedImage(base, size, symbols)


def write_perf_map(
    view: memoryview, sections: list[tuple[int, ...]], offsets: dict[int, int], base: int
) -> None:
    """Append the loaded functions to /tmp/perf-<pid>.map (TC_PERF_MAP=1), the file in which
    `perf report` looks up the names of code it did not load from a file: tc's kernels,
    products and loop bodies then show by name instead of as bare addresses."""
    table = next(s for s in sections if s[1] == SHT_SYMTAB)
    strings = bytes(view[sections[table[6]][4] : sections[table[6]][4] + sections[table[6]][5]])
    lines = []
    for number in range(table[5] // SYMBOL.size):
        name_at, info, _, shndx, value, length = SYMBOL.unpack_from(view, table[4] + number * SYMBOL.size)
        if info & 0xF == STT_FUNC and length and shndx in offsets:
            name = strings[name_at : strings.index(b"\0", name_at)].decode("utf-8", "replace")
            lines.append(f"{base + offsets[shndx] + value:x} {length:x} {name}\n")
    try:
        with open(f"/tmp/perf-{os.getpid()}.map", "a", encoding="utf-8") as out:
            out.writelines(lines)
    except OSError:
        pass  # a profiling aid: never a reason for a load to fail


def _linked_symbols(view: memoryview, sections: list[tuple[int, ...]]) -> list[int]:
    """The symbols (by number) that get a linkage entry: those GOT relocations name, and the
    process's functions that calls name (the small code model's rel32 may not reach them:
    the call then goes through the entry's jump)."""
    table = next(s for s in sections if s[1] == SHT_SYMTAB)
    linked: dict[int, None] = {}
    record = RELOCATION[SHT_RELA]
    for _, kind, _, _, offset, length, _, target, _, _ in sections:
        if kind != SHT_RELA or not sections[target][2] & SHF_ALLOC:
            continue
        for _, info, _ in record.iter_unpack(view[offset : offset + length]):
            symbol, rtype = info >> 32, info & 0xFFFFFFFF
            if rtype in R_GOT:
                linked[symbol] = None
            elif rtype == R_PLT32 and SYMBOL.unpack_from(view, table[4] + symbol * SYMBOL.size)[3] == 0:
                linked[symbol] = None
    return list(linked)


def _lay_out(
    sections: list[tuple[int, ...]], table: int
) -> tuple[dict[int, int], int, list[tuple[int, int, int]], int]:
    """Each allocated section's offset in the image (code, then read-only, then writable
    sections, each group starting on a page), the image's size, each group's (start, end,
    protection), and where the `table` bytes of linkage entries go (after the code)."""
    groups: list[list[int]] = [[], [], []]
    for index, (_, kind, flags, _, _, length, *_) in enumerate(sections):
        if not flags & SHF_ALLOC or length == 0 or kind == 0x70000001:  # unwind tables: not needed
            continue
        groups[0 if flags & SHF_EXECINSTR else 2 if flags & SHF_WRITE else 1].append(index)
    protections = [PROT_READ | PROT_EXEC, PROT_READ, PROT_READ | PROT_WRITE]
    offsets: dict[int, int] = {}
    regions = []
    position = 0
    linkage = 0
    for members, protection in zip(groups, protections, strict=True):
        start = position
        for index in members:
            if sections[index][5] > MAX_SECTION:  # elfcheck bounds sections by the file, not .bss
                raise ObjectCodeError(f"section {index} asks for {sections[index][5]} bytes")
            align = max(sections[index][8], 1)
            if align > PAGE:
                raise NotLoadable(f"section {index} asks for {align}-byte alignment")
            position = -(-position // align) * align
            offsets[index] = position
            position += sections[index][5]
        if protection & PROT_EXEC:
            linkage = position = -(-position // ENTRY) * ENTRY
            position += table
        position = -(-position // PAGE) * PAGE
        regions.append((start, position, protection))
    return offsets, max(position, PAGE), regions, linkage


def _map(size: int) -> int:
    assert _libc is not None
    address = _libc.mmap(None, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if address in (None, ctypes.c_void_p(-1).value):
        raise NotLoadable(f"mmap of {size} bytes failed (errno {ctypes.get_errno()})")
    return int(address)


def _symbols(
    view: memoryview, sections: list[tuple[int, ...]], offsets: dict[int, int], base: int
) -> tuple[dict[str, int], list[int]]:
    """The global symbols' addresses by name, and every symbol's address by number."""
    table = next(s for s in sections if s[1] == SHT_SYMTAB)
    _, _, _, _, offset, length, link, _, _, _ = table
    strings = bytes(view[sections[link][4] : sections[link][4] + sections[link][5]])
    named: dict[str, int] = {}
    addresses = []
    for number in range(length // SYMBOL.size):
        name_at, info, _, shndx, value, _ = SYMBOL.unpack_from(view, offset + number * SYMBOL.size)
        name = strings[name_at : strings.index(b"\0", name_at)].decode("utf-8", "replace")
        if shndx == 0:
            address = _external(name) if name else 0
        elif shndx == SHN_ABS:
            address = value
        elif shndx in offsets:
            address = base + offsets[shndx] + value
        else:
            address = 0  # a symbol of a section not loaded (unwind tables): a relocation to it fails
        addresses.append(address)
        if info >> 4 and name and shndx:  # global or weak, defined
            named[name] = address
    return named, addresses


def _external(name: str) -> int:
    address = process_symbol(name)
    if not address:
        raise NotLoadable(f"the process has no symbol {name}")
    return address


def _relocate(
    records: memoryview, image: bytearray, at: int, base: int, addresses: list[int], entries: dict[int, int]
) -> None:
    """Write the relocations `records` (RELA) into the section at image offset `at`;
    `entries`: each linked symbol's linkage entry (image offset)."""
    record = RELOCATION[SHT_RELA]
    for where, info, addend in record.iter_unpack(records):
        symbol, kind = info >> 32, info & 0xFFFFFFFF
        target = addresses[symbol]
        place = at + where
        if kind == R_NONE:
            continue
        if not target:
            raise NotLoadable(f"a relocation names symbol {symbol}, which has no address")
        value = target + addend
        if kind == R_64:
            struct.pack_into("<Q", image, place, value & 0xFFFFFFFFFFFFFFFF)
        elif kind == R_PC64:
            struct.pack_into("<q", image, place, value - (base + place))
        elif kind == R_PLT32 and symbol in entries and not -(1 << 31) <= value - (base + place) < 1 << 31:
            _pack32(image, place, base + entries[symbol] + addend - (base + place), "<i")  # via the jump
        elif kind in R_GOT:
            _pack32(image, place, base + entries[symbol] + len(JUMP) + addend - (base + place), "<i")
        elif kind in (R_PC32, R_PLT32):
            _pack32(image, place, value - (base + place), "<i")
        elif kind == R_32:
            _pack32(image, place, value, "<I")
        elif kind == R_32S:
            _pack32(image, place, value, "<i")
        else:
            raise NotLoadable(f"relocation type {kind}")


def _pack32(image: bytearray, place: int, value: int, form: str) -> None:
    try:
        struct.pack_into(form, image, place, value)
    except struct.error:
        raise NotLoadable("a 32-bit relocation out of range") from None
