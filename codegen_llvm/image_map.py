"""Map a prelinked image (elfload.prelink's, kept in the compile cache) into the process: a
warm start's whole load of native code, without LLVM and without reading an object's tables.

The image is one private mapping: code and linkage entries, read-only data, writable data,
each on pages of its own. Its fixups (the addresses of the process's functions, libc's
malloc and libm's tanh, and of the image itself) are written, then the code pages turned
executable and the read-only ones read-only. A module of its own, apart from elfload.py's
linking of object code, so that a warm start imports only this (elfload's import cost it
0.15 ms).
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

from .host import machine_name, process_symbol

R_64, R_PC32, R_32, R_32S, R_PC64 = 1, 2, 10, 11, 24  # the relocation types a fixup may have
# What a fixup writes, by relocation type: (bytes, the lowest value they hold).
FIXUPS = {
    R_64: (8, -(1 << 63)),
    R_PC64: (8, -(1 << 63)),
    R_PC32: (4, -(1 << 31)),
    R_32: (4, 0),
    R_32S: (4, -(1 << 31)),
}
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


def _map(size: int) -> int:
    assert _libc is not None
    address = _libc.mmap(None, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if address in (None, ctypes.c_void_p(-1).value):
        raise NotLoadable(f"mmap of {size} bytes failed (errno {ctypes.get_errno()})")
    return int(address)


def _external(name: str) -> int:
    address = process_symbol(name)
    if not address:
        raise NotLoadable(f"the process has no symbol {name}")
    return address
