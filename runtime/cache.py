"""The on-disk cache of compiled code: a second process gets it in milliseconds.

An entry is one file named by its key (a hash of the optimised IR, the target
and the compiler's own source): a JSON header line, then the object code. The
header carries the payload's SHA-256, so a corrupt or truncated entry is
detected, removed and rebuilt. Entries are written to a temporary file and
renamed into place, so readers never see a partial entry and concurrent
writers never wait for each other (the last rename wins; both wrote the same
bytes).

Where: $TC_CACHE_DIR, else $XDG_CACHE_HOME/tc, else ~/.cache/tc. TC_CACHE=0
turns the cache off.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

FORMAT = 1


def cache_directory() -> Path | None:
    if os.environ.get("TC_CACHE", "1") == "0":
        return None
    configured = os.environ.get("TC_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tc"


class CompileCache:
    """Object code and its description, by key."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.tcobj"

    def get(self, key: str) -> tuple[dict[str, Any], bytes] | None:
        """The header and payload stored under `key`, or None (missing, unreadable or corrupt)."""
        if self.directory is None:
            return None
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        try:
            line, payload = raw.split(b"\n", 1)
            header = json.loads(line)
            if header.get("format") != FORMAT or header.get("sha256") != hashlib.sha256(payload).hexdigest():
                raise ValueError("damaged entry")
        except ValueError:
            path.unlink(missing_ok=True)  # rebuilt by the caller
            return None
        return header, payload

    def put(self, key: str, header: dict[str, Any], payload: bytes) -> None:
        """Store an entry; a cache that cannot be written is simply not used."""
        if self.directory is None:
            return
        path = self._path(key)
        record = dict(header, format=FORMAT, sha256=hashlib.sha256(payload).hexdigest())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as handle:
                handle.write(json.dumps(record).encode() + b"\n" + payload)
                temporary = handle.name
            os.replace(temporary, path)
        except OSError:
            return


def cache_key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()
