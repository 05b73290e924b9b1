"""The on-disk cache of compiled code: a second process gets it in milliseconds.

An entry is one file named by its key (a hash of the optimised IR, the target
and the compiler's own source): a JSON header line, then the object code. The
header carries the key and the payload's SHA-256, so an entry copied under
another key, or corrupt or truncated, is a miss: it is removed (where the
cache can be written) and rebuilt. Entries are written to a temporary file
and renamed into place, so readers never see a partial entry and concurrent
writers never wait for each other (the last rename wins; both wrote the same
bytes).

The cache holds code that the process will run, so it must be private: its
directory is created with mode 0700, and an existing one that is not the
user's, or that others may write to, is not used (with a warning). Even
so, what comes back is only bytes that the caller checks again before
running them (codegen_llvm/elfcheck.py); any doubt is a miss, never a crash.
Reading never needs write permission: a read-only cache still serves hits.

Where: $TC_CACHE_DIR, else $XDG_CACHE_HOME/tc, else ~/.cache/tc. TC_CACHE=0
turns the cache off.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib.util
import json
import os
import stat
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORMAT = 2  # 2: the header names its key

_warned: set[Path] = set()  # directories already warned about, so a loop warns once


def cache_directory() -> Path | None:
    if os.environ.get("TC_CACHE", "1") == "0":
        return None
    configured = os.environ.get("TC_CACHE_DIR")
    if configured:
        return _path_of(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return _path_of(os.path.join(base, "tc"))


@functools.lru_cache(maxsize=8)
def _path_of(text: str) -> Path:
    return Path(text)  # (once per directory: a warm start asks for it seven times)


def private_directory(directory: Path) -> Path | None:
    """`directory`, created private if missing; None if it exists but others could write to it."""
    try:  # (looked at first: asking mkdir for an existing one cost an exception and two calls)
        status = os.stat(directory)
    except FileNotFoundError:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            status = os.stat(directory)
        except OSError:
            return None
    except OSError:
        return None
    problem = None
    if not stat.S_ISDIR(status.st_mode):
        problem = "it is not a directory"
    elif hasattr(os, "geteuid") and status.st_uid != os.geteuid():
        problem = "another user owns it"
    elif status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = "other users may write to it (chmod go-w, or remove it)"
    if problem is None:
        return directory
    if directory not in _warned:
        _warned.add(directory)
        warnings.warn(f"tc: not using the compile cache '{directory}': {problem}", stacklevel=3)
    return None


class CompileCache:
    """Object code and its description, by key."""

    def __init__(self, directory: Path | None, suffix: str = "tcobj") -> None:
        """`suffix`: the kind of entry (object code, or the pass pipeline's IR: tc/pass_cache.py)."""
        self.directory = private_directory(directory) if directory is not None else None
        self.suffix = suffix
        self._folder = os.fspath(self.directory) if self.directory is not None else ""

    def _path(self, key: str) -> Path:
        return Path(self._file(key))

    def _file(self, key: str) -> str:
        """Where the entry of `key` is, as a string (joining Paths cost a warm start's cache
        reads 0.05 ms)."""
        assert self.directory is not None
        return os.path.join(self._folder, key[:2], f"{key}.{self.suffix}")

    def get(self, key: str) -> tuple[dict[str, Any], bytes] | None:
        """The header and payload stored under `key`, or None (missing, unreadable, corrupt
        or another key's entry)."""
        if self.directory is None:
            return None
        path = self._file(key)
        raw = _read_regular_file(path)
        if raw is None:
            return None
        try:
            line, payload = raw.split(b"\n", 1)
            header = json.loads(line)
            if not isinstance(header, dict):
                raise ValueError("the header is not an object")
            if header.get("format") != FORMAT or header.get("key") != key:
                raise ValueError("another format's or another key's entry")
            if header.get("sha256") != hashlib.sha256(payload).hexdigest():
                raise ValueError("damaged entry")
        except (ValueError, RecursionError):  # JSON nested too deep is a RecursionError
            discard(Path(path))  # rebuilt by the caller
            return None
        return header, payload

    def has(self, key: str) -> bool:
        """Whether an entry is stored under `key`, by its file alone (`get` reads and checks it)."""
        return self.directory is not None and os.path.isfile(self._file(key))

    def put(self, key: str, header: dict[str, Any], payload: bytes) -> None:
        """Store an entry; a cache that cannot be written is simply not used."""
        if self.directory is None:
            return
        path = self._path(key)
        record = dict(header, format=FORMAT, key=key, sha256=hashlib.sha256(payload).hexdigest())
        try:
            if os.path.lexists(path.parent) and not path.parent.is_dir():
                discard(path.parent)
            path.parent.mkdir(mode=0o700, exist_ok=True)
            if os.path.lexists(path) and not path.is_file():
                discard(path)  # a directory or a link where the entry goes: rename cannot replace it
            _write_new(path, json.dumps(record).encode() + b"\n" + payload)
        except OSError:
            return

    def put_later(self, key: str, header: dict[str, Any], payload: bytes) -> None:
        """`put`, later (`write_later`): for entries this process also keeps in memory (the
        pass cache's, the function records), which it never needs to read back."""
        if self.directory is not None:
            write_later(functools.partial(self.put, key, header, payload))


_PENDING: list[Callable[[], None]] = []
_PENDING_LOCK = threading.Lock()
PENDING_LIMIT = 32  # writes waiting (entries of tens of kilobytes) before they are done at once


def write_later(write: Callable[[], None]) -> None:
    """Call `write` (a write to the cache) when the process ends, `write_pending` is called
    (tc.finish_compiling) or many wait: a compile hands its functions over without waiting
    for the disk. Writing a cold compile's entries took the seed's 0.7 ms."""
    with _PENDING_LOCK:
        _PENDING.append(write)
        full = len(_PENDING) >= PENDING_LIMIT
    if full:
        write_pending()


def write_pending() -> None:
    """Do every write `write_later` left waiting."""
    with _PENDING_LOCK:
        pending = _PENDING[:]
        _PENDING.clear()
    for write in pending:
        write()


atexit.register(write_pending)
os.register_at_fork(before=write_pending)  # (a child would write them again at its end)


def _write_new(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all: into a new file of a name no other writer
    uses (this process's, thread's and 64 random bits), renamed over `path` (readers never see
    a partial entry). tempfile would do it, at 2-3 ms of imports (with shutil, random) in
    every process that compiles."""
    temporary = path.parent / f".tmp-{os.getpid()}-{threading.get_ident()}-{os.urandom(8).hex()}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def discard(path: Path) -> None:
    """Remove a bad entry (whatever it is) if we may; a read-only cache keeps it."""
    try:
        if path.is_dir() and not path.is_symlink():
            import shutil

            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def _read_regular_file(path: str | Path) -> bytes | None:
    """The bytes of `path` if it is a regular file (not a link, a directory or a pipe that
    would block the read); a file of another kind is discarded."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError:  # a symbolic link (ELOOP), or unreadable
        if os.path.islink(path):
            discard(Path(path))
        return None
    try:
        regular = stat.S_ISREG(os.fstat(descriptor).st_mode)
        if regular:
            with os.fdopen(descriptor, "rb", closefd=False) as handle:
                return handle.read()
    except OSError:
        return None
    finally:
        os.close(descriptor)
    discard(Path(path))
    return None


@functools.cache
def source_digest(*packages: str) -> str:
    """A hash of the Python source of tc's `packages` (found, not imported), so that a cache
    entry made by other code is never reused.

    An installed wheel's package counts by its RECORD, the list of every installed file
    with its SHA-256 that pip wrote: one file read, where looking at the package's files
    cost a warm start 0.7 ms. Elsewhere (an editable install, a source tree, or a package
    its RECORD does not list) each file counts by its name, size and modification time,
    the test Python's own bytecode cache makes (reading and hashing the files cost a warm
    start 2 ms a digest, this a fifth of one)."""
    digest = hashlib.sha256()
    for package in packages:
        digest.update(_package_digest(package).encode())
    return digest.hexdigest()


@functools.cache
def _package_digest(package: str) -> str:
    spec = importlib.util.find_spec(f"tc.{package}")
    assert spec is not None and spec.origin is not None
    folder = os.path.dirname(spec.origin)
    recorded = installed_record(folder, package)
    if recorded is not None:
        return recorded
    digest = hashlib.sha256()
    _digest_sources(folder, folder, digest)
    return digest.hexdigest()


def installed_record(folder: str, package: str) -> str | None:
    """A hash of the RECORD of the installed tc wheel whose files include `folder` (tc's
    subpackage `package`), or None where no such RECORD lists it."""
    root = os.path.dirname(folder)  # .../site-packages/tc
    if os.path.basename(root) != "tc":
        return None
    record = _wheel_record(os.path.dirname(root))
    if record is None or f"\ntc/{package}/__init__.py,".encode() not in record:
        return None
    return _record_digest(record)


@functools.cache
def _record_digest(record: bytes) -> str:
    return hashlib.sha256(record).hexdigest()  # (once, not once per package)


@functools.cache
def recorded_hashes(site: str) -> dict[str, str]:
    """Each file the tc wheel installed in `site` lists in its RECORD ("tc/ir/core.py"), with
    its SHA-256 as RECORD writes it ("sha256=" and urlsafe base64, unpadded); {} where there
    is no such RECORD (an editable install, a source tree)."""
    record = _wheel_record(site)
    if record is None:
        return {}
    hashes = {}
    for line in record.splitlines():
        path, _, rest = line.partition(b",")
        hashes[path.decode("utf-8", "replace")] = rest.partition(b",")[0].decode("ascii", "replace")
    return hashes


def recorded_sha256(data: bytes) -> str:
    """The SHA-256 of `data` as a RECORD lists it ("sha256=" and urlsafe base64, unpadded), the
    form tc/prebuilt/manifest.json keeps its sources' in: an installed tc compares them with
    its RECORD's without converting (binascii's import cost an empty cache's first compile
    0.3 ms)."""
    import binascii  # (not base64: 0.3 ms more of imports)

    encoded = binascii.b2a_base64(hashlib.sha256(data).digest(), newline=False).decode()
    return "sha256=" + encoded.rstrip("=").replace("+", "-").replace("/", "_")


@functools.cache
def _wheel_record(site: str) -> bytes | None:
    """The RECORD of the one tc wheel installed in `site`, or None."""
    try:
        found = [n for n in os.listdir(site) if n.startswith("tc-") and n.endswith(".dist-info")]
        if len(found) != 1:
            return None
        with open(os.path.join(site, found[0], "RECORD"), "rb") as record:
            return b"\n" + record.read()
    except OSError:
        return None


def _digest_sources(root: str, folder: str, digest: Any) -> None:
    with os.scandir(folder) as found:
        entries = sorted(found, key=lambda entry: entry.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if entry.name != "__pycache__":
                _digest_sources(root, entry.path, digest)
        elif entry.name.endswith(".py"):
            status = entry.stat()
            name = entry.path[len(root) + 1 :]  # relative to root (os.path.relpath: 15 us a file)
            digest.update(f"{name}\0{status.st_size}\0{status.st_mtime_ns}\0".encode())


def remember(memory: dict[str, Any], key: str, value: object, limit: int) -> None:
    """Keep `value` under `key` in `memory`, a process's copy of cache entries, dropping its
    oldest entry once it holds `limit`."""
    if len(memory) >= limit:
        del memory[next(iter(memory))]
    memory[key] = value


def cache_key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()
