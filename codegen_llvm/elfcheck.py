"""A structural check of object code before MCJIT links it into the process.

MCJIT's loader (RuntimeDyld) trusts its input: a section or relocation that
points past the end of the file, or a relocation type it does not implement,
crashes the process instead of raising. Object code comes back from the
compile cache and from artifacts, both files that can be damaged, so
`check_object` reads the ELF structure first, in Python, and raises
ObjectCodeError on anything that RuntimeDyld could trip over:

- the header: 64-bit little-endian ELF, relocatable, for the host's machine,
  section headers inside the file;
- every section's bytes inside the file, its links to existing sections;
- the string tables NUL-terminated, so every name ends inside its table;
- every symbol in its section, and the entry points defined, global functions
  in executable sections;
- every symbol it needs from elsewhere (libm, libc) found in the process:
  MCJIT aborts the process on one it cannot resolve;
- every relocation naming an existing symbol, landing inside its section, of a
  type the loader implements (on x86-64, where we know the list);
- .eh_frame records that chain to the end of their section.

This says nothing about what the code does: that is why the cache binds an
entry to its key and lives in a private directory, and why an artifact is
trusted like a module one imports.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from ..ir import TcCompilationError
from .host import machine_name, process_symbol

# e_machine by `machine_name()`.
MACHINES = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183, "ppc64le": 21, "riscv64": 243}
# The x86-64 relocations RuntimeDyldELF resolves, with the bytes each writes (0: none).
X86_64_RELOCATIONS = {0: 0, 1: 8, 2: 4, 4: 4, 9: 4, 10: 4, 11: 4, 24: 8, 25: 8, 26: 4, 41: 4, 42: 4}

SHT_NULL, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS, SHT_REL, SHT_GROUP = 0, 2, 3, 4, 8, 9, 17
SHF_EXECINSTR = 0x4
SHN_ABS, SHN_COMMON = 0xFFF1, 0xFFF2
STB_GLOBAL, STB_WEAK, STT_FUNC = 1, 2, 2
# Names MCJIT's memory manager resolves itself on Linux rather than by searching the process.
RESOLVED_BY_MCJIT = frozenset("stat fstat lstat stat64 fstat64 lstat64 atexit mknod __morestack".split())

HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
SECTION = struct.Struct("<IIQQQQIIQQ")  # name type flags addr offset size link info addralign entsize
SYMBOL = struct.Struct("<IBBHQQ")  # name info other shndx value size
RELOCATION = {SHT_RELA: struct.Struct("<QQq"), SHT_REL: struct.Struct("<QQ")}


class ObjectCodeError(TcCompilationError):
    """Object code that is not a well-formed relocatable object for this machine."""


def host_machine() -> int | None:
    """The host's ELF e_machine, or None where we do not know it."""
    return MACHINES.get(machine_name().lower())


def check_object(data: bytes, defined: Iterable[str], machine: int | None = None) -> None:
    """Raise ObjectCodeError unless `data` is a sound relocatable ELF object for `machine`
    (default: the host) that defines every symbol in `defined` as a global function."""
    machine = host_machine() if machine is None else machine
    if machine is None:
        raise ObjectCodeError(f"no object code is trusted on this machine ({machine_name()})")
    try:
        _check(memoryview(data), set(defined), machine)
    except struct.error as err:  # a table that runs off the end of its section
        raise ObjectCodeError(f"truncated object code: {err}") from err


def _check(data: memoryview, defined: set[str], machine: int) -> None:
    if len(data) < HEADER.size:
        raise ObjectCodeError("object code shorter than an ELF header")
    ident, e_type, e_machine, version, _, phoff, shoff, _, ehsize, _, phnum, shentsize, shnum, shstrndx = (
        HEADER.unpack_from(data)
    )
    if ident[:7] != b"\x7fELF\x02\x01\x01":
        raise ObjectCodeError("not a 64-bit little-endian ELF object")
    if (e_type, e_machine, version) != (1, machine, 1):
        raise ObjectCodeError(
            f"not a relocatable object for machine {machine} (type {e_type}, machine {e_machine})"
        )
    if ehsize != HEADER.size or shentsize != SECTION.size or phoff or phnum or not 0 < shstrndx < shnum:
        raise ObjectCodeError("malformed ELF header")
    if shoff + shnum * SECTION.size > len(data):
        raise ObjectCodeError("section headers outside the object code")
    sections = [SECTION.unpack_from(data, shoff + i * SECTION.size) for i in range(shnum)]
    for index, (_, kind, _, _, offset, size, link, _, align, _) in enumerate(sections):
        if kind not in (SHT_NULL, SHT_NOBITS) and offset + size > len(data):
            raise ObjectCodeError(f"section {index} lies outside the object code")
        if link >= shnum or align & (align - 1):
            raise ObjectCodeError(f"section {index} has a bad link or alignment")
    names = _string_table(data, sections, shstrndx)
    symbols = _symbols(data, sections)
    for index, (name, kind, _, _, offset, size, *_) in enumerate(sections):
        if name >= len(names):
            raise ObjectCodeError(f"section {index} has its name outside the string table")
        if kind in RELOCATION:
            _check_relocations(data, sections, index, len(symbols), machine)
        elif kind == SHT_GROUP:
            members = struct.unpack_from(f"<{size // 4}I", data, offset)[1:]
            if any(member >= shnum for member in members):
                raise ObjectCodeError(f"group section {index} names a section that does not exist")
        elif _name(names, name) == b".eh_frame" and kind != SHT_NOBITS:
            _check_eh_frame(data[offset : offset + size], index)
    missing = defined - {name for name, kind in symbols if kind == "function"}
    if missing:
        raise ObjectCodeError(f"the object code does not define {', '.join(sorted(missing))}")
    needed = {name for name, kind in symbols if kind == "needed"} - RESOLVED_BY_MCJIT
    unresolved = sorted(name for name in needed if not process_symbol(name))
    if unresolved:
        raise ObjectCodeError(f"the object code needs {', '.join(unresolved[:5])}, which this process lacks")


def _string_table(data: memoryview, sections: list[tuple[int, ...]], index: int) -> bytes:
    _, kind, _, _, offset, size, *_ = sections[index]
    table = bytes(data[offset : offset + size])
    if kind != SHT_STRTAB or not table.endswith(b"\0"):
        raise ObjectCodeError(f"section {index} is not a string table")
    return table


def _name(table: bytes, start: int) -> bytes:
    return table[start : table.index(b"\0", start)]


def _symbols(data: memoryview, sections: list[tuple[int, ...]]) -> list[tuple[str, str]]:
    """Every symbol's name and kind: "function" (a global function defined in executable
    code), "needed" (a global the object uses but does not define) or "other"."""
    tables = [i for i, section in enumerate(sections) if section[1] == SHT_SYMTAB]
    if len(tables) != 1:
        raise ObjectCodeError(f"object code with {len(tables)} symbol tables")
    _, _, _, _, offset, size, link, first_global, _, entsize = sections[tables[0]]
    if entsize != SYMBOL.size or size % SYMBOL.size or first_global > size // SYMBOL.size:
        raise ObjectCodeError("malformed symbol table")
    strings = _string_table(data, sections, link)
    symbols = []
    for number in range(size // SYMBOL.size):
        name, info, _, shndx, value, extent = SYMBOL.unpack_from(data, offset + number * SYMBOL.size)
        if name >= len(strings):
            raise ObjectCodeError(f"symbol {number} has its name outside the string table")
        inside = 0 < shndx < len(sections)
        if not inside and shndx not in (0, SHN_ABS, SHN_COMMON):
            raise ObjectCodeError(f"symbol {number} is in section {shndx}, which does not exist")
        if inside and (sections[shndx][1] == SHT_NULL or value + extent > sections[shndx][5]):
            raise ObjectCodeError(f"symbol {number} lies outside its section")
        binding, kind = info >> 4, "other"
        if inside and binding in (STB_GLOBAL, STB_WEAK) and info & 0xF == STT_FUNC:
            kind = "function" if sections[shndx][2] & SHF_EXECINSTR else "other"
        elif shndx == 0 and binding == STB_GLOBAL and name:  # an undefined weak one may stay 0
            kind = "needed"
        symbols.append((_name(strings, name).decode("utf-8", "replace"), kind))
    return symbols


def _check_relocations(
    data: memoryview, sections: list[tuple[int, ...]], index: int, symbol_count: int, machine: int
) -> None:
    _, kind, _, _, offset, size, link, target, _, entsize = sections[index]
    record = RELOCATION[kind]
    if entsize != record.size or size % record.size or sections[link][1] != SHT_SYMTAB:
        raise ObjectCodeError(f"malformed relocation section {index}")
    if not 0 < target < len(sections) or sections[target][1] in (SHT_NULL, SHT_NOBITS):
        raise ObjectCodeError(f"relocation section {index} applies to no section with contents")
    target_size = sections[target][5]
    for number in range(size // record.size):
        where, info = record.unpack_from(data, offset + number * record.size)[:2]
        symbol, rtype = info >> 32, info & 0xFFFFFFFF
        width = X86_64_RELOCATIONS.get(rtype) if machine == 62 else 0
        if width is None:
            raise ObjectCodeError(
                f"relocation {number} of section {index} has type {rtype}, which the loader lacks"
            )
        if symbol >= symbol_count or where + width > target_size:
            raise ObjectCodeError(f"relocation {number} of section {index} is out of range")


def _check_eh_frame(frame: memoryview, index: int) -> None:
    """The unwinder walks these records by their lengths; each must end inside the section."""
    position = 0
    while position + 4 <= len(frame):
        (length,) = struct.unpack_from("<I", frame, position)
        if length == 0:  # the terminator
            return
        if length == 0xFFFFFFFF or position + 4 + length > len(frame):
            raise ObjectCodeError(f"section {index} (.eh_frame) has a record running past its end")
        position += 4 + length
    if position != len(frame):
        raise ObjectCodeError(f"section {index} (.eh_frame) ends inside a record")
