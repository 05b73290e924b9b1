"""Load a relocatable x86-64 ELF object into the process without LLVM.

A warm start (the compile cache holds the object code) spent most of its time importing
llvmlite's LLVM library (about 35 ms) to let MCJIT link a few kilobytes. The objects tc
emits are simple to link by hand. They use the small code model, position-independent
(LLVM's fast instruction selection handles its calls and global loads, not the large
model's: the logistic regression's quick code emitted in 13.3 ms, not 16.0): PC-relative
32-bit words within the object, calls to the process's functions (R_X86_64_PLT32), which
may lie farther than 2 GiB and then go through a jump in a linkage entry after the code, and
loads of global addresses through a slot (the GOT relocations), which is the same entry's
address word. `prelink` lays the allocated sections out as one image (code and linkage
entries, read-only data, writable data, each on pages of its own) and writes every
relocation that no address of the process changes; image_map.py maps the image and writes
the rest (External symbols, libc's malloc and libm's tanh, come from the process, as they
do for MCJIT). Unwind tables (.eh_frame) are not registered: nothing unwinds through tc's
code.

Anything this loader does not know (a relocation type, a symbol the process lacks, a
PC-relative word out of its range, another machine) raises NotLoadable and the caller
links with MCJIT instead. The bytes have passed elfcheck's structural check first; a
section of more than a gibibyte (an uninitialised one, which that check cannot bound by the
file's size) is damage, an ObjectCodeError.
"""

from __future__ import annotations

import struct

from .image_map import (
    FIXUPS,
    MAX_SECTION,
    PAGE,
    PROT_EXEC,
    PROTECTIONS,
    R_64,
    R_PC32,
    R_PC64,
    Image,
    LoadedImage,
    NotLoadable,
    map_image,
    supported,
)

SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHN_ABS = 0xFFF1
STT_FUNC = 2
R_NONE, R_PLT32 = 0, 4
R_GOT = (9, 41, 42)  # R_X86_64_GOTPCREL, GOTPCRELX, REX_GOTPCRELX: a PC-relative word to a slot
# A linkage entry: `jmp [rip + 0]` then the symbol's address, the slot GOT relocations name.
ENTRY = 16
JUMP = b"\xff\x25\x00\x00\x00\x00"


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
