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
from typing import Any

from .host import machine_name, process_symbol

# Mapping an image (a warm start) needs nothing of elfcheck.py, which prelinking object code
# does: that imports it (0.15 ms of every warm start otherwise).

SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHN_ABS = 0xFFF1
STT_FUNC = 2
R_NONE, R_64, R_PC32, R_PLT32, R_32, R_32S, R_PC64 = 0, 1, 2, 4, 10, 11, 24
R_GOT = (9, 41, 42)  # R_X86_64_GOTPCREL, GOTPCRELX, REX_GOTPCRELX: a PC-relative word to a slot
# What a fixup writes, by relocation type: (bytes, the lowest value they hold).
FIXUPS = {
    R_64: (8, -(1 << 63)),
    R_PC64: (8, -(1 << 63)),
    R_PC32: (4, -(1 << 31)),
    R_32: (4, 0),
    R_32S: (4, -(1 << 31)),
}
# A linkage entry: `jmp [rip + 0]` then the symbol's address, the slot GOT relocations name.
ENTRY = 16
JUMP = b"\xff\x25\x00\x00\x00\x00"
PAGE = os.sysconf("SC_PAGESIZE")
# mmap(2)'s flags on Linux, the only system this loader serves (`supported`): the values, not
# the mmap module, whose import cost every warm start 0.2 ms
PROT_READ, PROT_WRITE, PROT_EXEC, MAP_PRIVATE, MAP_ANONYMOUS = 0x1, 0x2, 0x4, 0x02, 0x20
PROTECTIONS = (PROT_READ | PROT_EXEC, PROT_READ, PROT_READ | PROT_WRITE)
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

    def __init__(self, base: int, size: int, symbols: dict[str, int], code: tuple[int, int] = (0, 0)) -> None:
        self.base, self.size, self.symbols = base, size, symbols
        self.code = code  # (start, end): the executable bytes the image held

    def runs(self, address: int) -> bool:
        """Whether `address` lies in the image's executable bytes."""
        return self.code[0] <= address < self.code[1]

    def get_global_value_address(self, name: str) -> int:
        return self.symbols.get(name, 0)

    def __del__(self) -> None:
        if self.base and _libc is not None:
            _libc.munmap(self.base, self.size)
            self.base = 0


class Image:
    """An object laid out and linked as far as no address of the process matters (`prelink`):
    `code`, the first bytes of an image of `size` bytes, whose `regions` (start, end,
    protection) are each page-aligned; every global symbol's offset; and the `fixups` left
    for the process, each (relocation type, offset, symbol, addend): the symbol's address in
    the process, or the image's own address where the symbol is "", plus the addend, written
    as that type writes it. Object code the compile cache holds keeps its image beside it
    (tc/object_cache.py), so a warm start maps it without reading the object's tables: the
    MLP's four objects linked in 1.9 ms, their images map in 0.2."""

    __slots__ = ("size", "regions", "code", "symbols", "fixups", "functions")

    def __init__(
        self,
        size: int,
        regions: list[tuple[int, int, int]],
        code: bytes,
        symbols: dict[str, int],
        fixups: list[tuple[int, int, str, int]],
        functions: list[tuple[int, int, str]],  # (offset, length, name): for TC_PERF_MAP
    ) -> None:
        self.size, self.regions, self.code = size, regions, code
        self.symbols, self.fixups, self.functions = symbols, fixups, functions

    def fields(self) -> tuple[Any, ...]:
        return (self.size, self.regions, self.code, self.symbols, self.fixups, self.functions)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Image) and self.fields() == other.fields()

    __hash__ = None  # type: ignore[assignment]


def load(data: bytes) -> LoadedImage:
    """Map and link the relocatable object `data` (checked by elfcheck.check_object)."""
    return map_image(prelink(data))


def prelink(data: bytes) -> Image:
    """Lay out and link the relocatable object `data` (checked by elfcheck.check_object) as
    far as its own address and the process's do not matter: every PC-relative word between
    its own sections, and every call out of it and every GOT slot through a linkage entry."""
    from .elfcheck import HEADER, SECTION, SHT_NOBITS, SHT_REL, SHT_RELA

    if not supported():
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
    symbols, functions, places = _symbols(view, sections, offsets)
    fixups: list[tuple[int, int, str, int]] = []
    entries = {symbol: table + n * ENTRY for n, symbol in enumerate(linked)}
    for symbol, at in entries.items():
        if (place := places[symbol]) is None:
            raise NotLoadable(f"a relocation names symbol {symbol}, which has no address")
        image[at : at + len(JUMP)] = JUMP
        fixups.append((R_64, at + len(JUMP), *place))  # the entry's address word
    for index, (_, kind, _, _, offset, length, _, target, _, _) in enumerate(sections):
        if kind == SHT_RELA and target in offsets:
            records = view[offset : offset + length]
            fixups += _relocate(records, image, offsets[target], places, entries)
        elif kind == SHT_REL:  # never emitted for x86-64
            raise NotLoadable(f"REL relocations in section {index}")
    end = max((at + sections[i][5] for i, at in offsets.items() if sections[i][1] != SHT_NOBITS), default=0)
    code = bytes(image[: max(end, table + len(entries) * ENTRY)])
    return Image(size, regions, code, symbols, fixups, functions)


def map_image(image: Image) -> LoadedImage:
    """`image` mapped into the process and its fixups written. The image may come from a file:
    anything in it that would write outside it or is not what `prelink` makes raises
    ObjectCodeError, a symbol the process lacks NotLoadable."""
    if _libc is None:
        raise NotLoadable("not an x86-64 Linux process")
    size, regions, code, symbols, fixups, functions = _checked(image).fields()
    base = _map(size)
    try:
        ctypes.memmove(base, code, len(code))
        for kind, at, symbol, addend in fixups:
            target = (_external(symbol) if symbol else base) + addend
            value = target - (base + at) if kind in (R_PC32, R_PC64) else target
            width, low = FIXUPS[kind]
            if not low <= value < low + (1 << (8 * width)):
                raise NotLoadable(f"a {8 * width}-bit relocation out of range")
            ctypes.memmove(base + at, (value % (1 << (8 * width))).to_bytes(width, "little"), width)
        for start, end, protection in regions:
            if end > start and _libc.mprotect(base + start, end - start, protection) != 0:
                raise NotLoadable(f"mprotect failed (errno {ctypes.get_errno()})")
    except BaseException:
        _libc.munmap(base, size)
        raise
    if os.environ.get("TC_PERF_MAP", "0") not in ("", "0"):
        write_perf_map(functions, base)
    executable = next(((start, min(end, len(code))) for start, end, p in regions if p & PROT_EXEC), (0, 0))
    named = {name: base + at for name, at in symbols.items() if name}
    return LoadedImage(base, size, named, (base + executable[0], base + executable[1]))


def _checked(image: Image) -> Image:
    """`image` if it is what `prelink` makes, else ObjectCodeError (a damaged or foreign file)."""
    try:
        return _check_image(image)
    except (TypeError, ValueError) as error:  # a field of another type, shape or value
        from .elfcheck import ObjectCodeError

        raise ObjectCodeError(f"an image that prelink did not make: {error}") from None


def _check_image(image: Image) -> Image:
    size, regions, code, symbols, fixups, functions = image.fields()
    if not (
        isinstance(size, int) and 0 < size <= MAX_SECTION and isinstance(code, bytes) and len(code) <= size
    ):
        raise ValueError("an image of a bad size")
    for start, end, protection in regions:
        if not (0 <= start <= end <= size and start % PAGE == 0 and protection in PROTECTIONS):
            raise ValueError("an image region outside the image")
    for name, at in symbols.items():
        if not (isinstance(name, str) and isinstance(at, int) and 0 <= at < size):
            raise ValueError("an image symbol outside the image")
    for kind, at, symbol, addend in fixups:
        if kind not in FIXUPS or not isinstance(symbol, str) or not isinstance(addend, int):
            raise ValueError("an image fixup of no known kind")
        if not (isinstance(at, int) and 0 <= at <= len(code) - FIXUPS[kind][0] and abs(addend) < 1 << 62):
            raise ValueError("an image fixup outside the image")
    if not all(
        0 <= at < size and 0 < length <= size - at and isinstance(name, str) for at, length, name in functions
    ):
        raise ValueError("an image function outside the image")
    return image


def write_perf_map(functions: list[tuple[int, int, str]], base: int) -> None:
    """Append the loaded functions to /tmp/perf-<pid>.map (TC_PERF_MAP=1), the file in which
    `perf report` looks up the names of code it did not load from a file: tc's kernels,
    products and loop bodies then show by name instead of as bare addresses."""
    lines = [f"{base + at:x} {length:x} {name}\n" for at, length, name in functions]
    try:
        with open(f"/tmp/perf-{os.getpid()}.map", "a", encoding="utf-8") as out:
            out.writelines(lines)
    except OSError:
        pass  # a profiling aid: never a reason for a load to fail


def _linked_symbols(view: memoryview, sections: list[tuple[int, ...]]) -> list[int]:
    """The symbols (by number) that get a linkage entry: those GOT relocations name, and the
    process's functions that calls name (the small code model's rel32 may not reach them:
    the call then goes through the entry's jump)."""
    from .elfcheck import RELOCATION, SHT_RELA, SHT_SYMTAB, SYMBOL

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
    from .elfcheck import ObjectCodeError

    groups: list[list[int]] = [[], [], []]
    for index, (_, kind, flags, _, _, length, *_) in enumerate(sections):
        if not flags & SHF_ALLOC or length == 0 or kind == 0x70000001:  # unwind tables: not needed
            continue
        groups[0 if flags & SHF_EXECINSTR else 2 if flags & SHF_WRITE else 1].append(index)
    offsets: dict[int, int] = {}
    regions = []
    position = 0
    linkage = 0
    for members, protection in zip(groups, PROTECTIONS, strict=True):
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
    view: memoryview, sections: list[tuple[int, ...]], offsets: dict[int, int]
) -> tuple[dict[str, int], list[tuple[int, int, str]], list[tuple[str, int] | None]]:
    """The global symbols' offsets by name; the functions (offset, length, name); and where
    each symbol is, by number: (a symbol of the process, 0), ("", its offset in the image), or
    None (an absolute symbol, or one of a section not loaded, as the unwind tables: a
    relocation to it is not loadable)."""
    from .elfcheck import SHT_SYMTAB, SYMBOL

    table = next(s for s in sections if s[1] == SHT_SYMTAB)
    _, _, _, _, offset, length, link, _, _, _ = table
    strings = bytes(view[sections[link][4] : sections[link][4] + sections[link][5]])
    named: dict[str, int] = {}
    functions = []
    places: list[tuple[str, int] | None] = []
    for number in range(length // SYMBOL.size):
        name_at, info, _, shndx, value, extent = SYMBOL.unpack_from(view, offset + number * SYMBOL.size)
        if shndx == 0:
            name = strings[name_at : strings.index(b"\0", name_at)].decode("utf-8", "replace")
            places.append((name, 0) if name else None)
        elif shndx in offsets:
            places.append(("", offsets[shndx] + value))
            if info >> 4 or info & 0xF == STT_FUNC:  # global or weak, or a function: named
                name = strings[name_at : strings.index(b"\0", name_at)].decode("utf-8", "replace")
                if info >> 4 and name:
                    named[name] = offsets[shndx] + value
                if info & 0xF == STT_FUNC and extent:
                    functions.append((offsets[shndx] + value, extent, name))
        else:
            places.append(None)
    return named, functions, places


def _external(name: str) -> int:
    address = process_symbol(name)
    if not address:
        raise NotLoadable(f"the process has no symbol {name}")
    return address


def _relocate(
    records: memoryview,
    image: bytearray,
    at: int,
    places: list[tuple[str, int] | None],
    entries: dict[int, int],
) -> list[tuple[int, int, str, int]]:
    """Write the relocations `records` (RELA) of the section at image offset `at` that no
    address of the process changes; return the others as fixups (see Image). `entries`:
    each linked symbol's linkage entry (image offset)."""
    from .elfcheck import RELOCATION, SHT_RELA

    fixups = []
    for where, info, addend in RELOCATION[SHT_RELA].iter_unpack(records):
        symbol, kind = info >> 32, info & 0xFFFFFFFF
        if kind == R_NONE:
            continue
        found = places[symbol]
        if found is None:
            raise NotLoadable(f"a relocation names symbol {symbol}, which has no address")
        outside, offset = found
        place = at + where
        if kind in R_GOT:  # the linkage entry's address word
            _pack(image, place, entries[symbol] + len(JUMP) + addend - place, "<i")
        elif kind == R_PLT32 and outside:  # a call out: through the linkage entry's jump
            _pack(image, place, entries[symbol] + addend - place, "<i")
        elif kind in (R_PC32, R_PLT32) and not outside:
            _pack(image, place, offset + addend - place, "<i")
        elif kind == R_PC64 and not outside:
            _pack(image, place, offset + addend - place, "<q")
        elif kind in FIXUPS:
            fixups.append((kind, place, outside, offset + addend))  # (every R_PLT32 is written above)
        else:
            raise NotLoadable(f"relocation type {kind}")
    return fixups


def _pack(image: bytearray, place: int, value: int, form: str) -> None:
    try:
        struct.pack_into(form, image, place, value)
    except struct.error:
        raise NotLoadable(f"a {struct.calcsize(form) * 8}-bit relocation out of range") from None
