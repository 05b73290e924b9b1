"""OpenBLAS's idle threads: spinning for a tenth of a millisecond, not a tenth of a second.

Between products, OpenBLAS's worker threads wait for the next one by calling sched_yield in
a loop for `thread_timeout` cycles (2^28 by default: 0.13 s at 2 GHz) before they sleep. A
thread that yields stays runnable, and the scheduler shares a core between it and whatever
else runs there, so tc's own threaded loops (codegen_llvm/thread_pool.py) ran at half speed
for that long after every threaded product. Measured here (2 cores): a batch-32 RNN scan
spread over both cores took 11-12 ms alone, and 23-25 ms, both cores busy all along, when
it came right after the 32000 x 64 x 128 product of its inputs.

OpenBLAS reads OPENBLAS_THREAD_TIMEOUT (log2 of the cycles) only when it loads, which numpy
has done before tc runs. So, unless the user set that variable, tc sets the library's
variable itself, to 2^IDLE_CYCLES_LOG2 cycles: about as long as tc's own pool spins. The
variable is static; its address comes from the library file's full symbol table (.symtab),
relative to an exported function's. A library without that symbol (stripped, or another
BLAS), or whose variable does not hold a power of two in OpenBLAS's range, is left alone.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
from pathlib import Path

import numpy as np

IDLE_CYCLES_LOG2 = 18
# ELF64, little-endian: the file header, a section header, a symbol (as codegen_llvm/elfcheck.py)
HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
SECTION = struct.Struct("<IIQQQQIIQQ")  # name type flags addr offset size link info addralign entsize
SYMBOL_SIZE, SHT_SYMTAB = 24, 2
_VARIABLE, _ANCHOR = b"thread_timeout", b"openblas_thread_timeout"  # the anchor is exported
_SYMBOL_RECORD = np.dtype(
    [("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"), ("value", "<u8"), ("size", "<u8")]
)


def shorten_idle_spin(path: Path, library: ctypes.CDLL) -> bool:
    """Make the OpenBLAS at `path` (loaded as `library`) put its idle threads to sleep after
    2^IDLE_CYCLES_LOG2 cycles; whether it was done."""
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return False
    try:
        values = _cached_symbol_values(path, (_VARIABLE, _ANCHOR))
        anchor = ctypes.cast(getattr(library, _ANCHOR.decode()), ctypes.c_void_p).value
    except (OSError, ValueError, AttributeError):
        return False
    if anchor is None or len(values) != 2:
        return False
    word = ctypes.c_uint32.from_address(anchor - values[_ANCHOR] + values[_VARIABLE])
    cycles = word.value
    if cycles & (cycles - 1) or not 1 << 4 <= cycles <= 1 << 30:
        return False
    word.value = 1 << IDLE_CYCLES_LOG2
    return True


def _cached_symbol_values(path: Path, names: tuple[bytes, ...]) -> dict[bytes, int]:
    """symbol_values, kept in the compile cache by the file's path, size and modification
    time: reading the symbol table of numpy's OpenBLAS cost every new process with a matrix
    product 2.4 ms."""
    from .cache import CompileCache, cache_directory, cache_key

    status = os.stat(path)
    key = cache_key(
        "symbols", str(path), str(status.st_size), str(status.st_mtime_ns), *map(bytes.hex, names)
    )
    cache = CompileCache(cache_directory(), suffix="tcsyms")
    hit = cache.get(key)
    if hit is not None:
        try:
            found = json.loads(hit[1])
            return {bytes.fromhex(name): int(value) for name, value in found.items()}
        except (ValueError, TypeError, AttributeError):
            pass  # read again below, and the entry replaced
    values = symbol_values(path, names)
    cache.put(key, {}, json.dumps({name.hex(): value for name, value in values.items()}).encode())
    return values


def symbol_values(path: Path, names: tuple[bytes, ...]) -> dict[bytes, int]:
    """The value (address relative to the load base) of each of `names` that the ELF file's
    .symtab defines exactly once."""
    import mmap  # (only where the symbols are not in the cache: 0.2 ms of a warm start)

    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        header = HEADER.unpack_from(data, 0)
        if header[0][:4] != b"\x7fELF" or header[0][4] != 2:  # ELF, 64-bit
            raise ValueError(f"{path} is not a 64-bit ELF file")
        section_offset, count = header[6], header[12]
        sections = [SECTION.unpack_from(data, section_offset + i * SECTION.size) for i in range(count)]
        tables = [section for section in sections if section[1] == SHT_SYMTAB]
        if len(tables) != 1 or tables[0][9] != SYMBOL_SIZE:
            return {}
        _, _, _, _, offset, size, link, *_ = tables[0]
        strings_offset, strings_size = sections[link][4], sections[link][5]
        strings = data[strings_offset : strings_offset + strings_size]
        records = np.frombuffer(data[offset : offset + size], _SYMBOL_RECORD)
        found = {}
        for name in names:
            # a name may also end a longer one ("openblas_thread_timeout"): linkers share tails
            starts = _occurrences(strings, name + b"\0")
            matches = records[np.isin(records["name"], np.array(starts, dtype=np.uint32))]
            matches = matches[matches["shndx"] != 0]  # defined here
            if len(matches) == 1:
                found[name] = int(matches["value"][0])
        return found


def _occurrences(table: bytes, needle: bytes) -> list[int]:
    places, start = [], table.find(needle)
    while start >= 0:
        places.append(start)
        start = table.find(needle, start + 1)
    return places
