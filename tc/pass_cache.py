"""The pass pipeline's results by the IR it started from, so a warm compile skips the passes.

The optimised IR is a function of the IR the builder made, the passes' and the IR's own
source and tc's version: under that key the compile cache keeps the two stages a compile
needs after the passes (`tir-planned`, which the shape plans are derived from, and
`tir-opt`, which codegen lowers), printed with the ops' locations (error messages name the
user's line) and keyed by the located IR too; this process keeps them in memory as well. A hit parses
them (milliseconds) instead of running the pipeline (tens of milliseconds for a train step);
the object code is then found in the cache by the optimised IR, as before.
"""

from __future__ import annotations

import hashlib
import importlib
from functools import lru_cache
from pathlib import Path

from tc.runtime.cache import CompileCache, cache_directory, cache_key

STAGES = ("tir-planned", "tir-opt")
_MEMORY: dict[str, dict[str, str]] = {}
_MEMORY_LIMIT = 256  # entries; the oldest goes first


@lru_cache(maxsize=1)
def _fingerprint() -> str:
    """A hash of the passes' and the IR's source: a changed pipeline never reuses old results."""
    digest = hashlib.sha256()
    for package in ("passes", "ir"):
        directory = Path(importlib.import_module(f"tc.{package}").__file__).parent  # type: ignore[arg-type]
        for source in sorted(directory.rglob("*.py")):
            digest.update(source.read_bytes())
    return digest.hexdigest()


def key_of(tir: str, pipeline: tuple[str, ...]) -> str:
    """The key of running `pipeline` on the module whose text is `tir`."""
    from tc import __version__

    return cache_key("passes", tir, ",".join(pipeline), _fingerprint(), __version__)


def load(key: str) -> dict[str, str] | None:
    """The cached stages, from memory or the disk cache, or None."""
    found = _MEMORY.get(key)
    if found is not None:
        return found
    hit = CompileCache(cache_directory(), "tcpasses").get(key)
    if hit is None:
        return None
    stages = hit[0].get("pipeline")
    if not isinstance(stages, dict) or set(stages) != set(STAGES):
        return None
    if not all(isinstance(text, str) for text in stages.values()):
        return None
    _remember(key, stages)
    return stages


def store(key: str, stages: dict[str, str]) -> None:
    found = {name: stages[name] for name in STAGES}
    _remember(key, found)
    CompileCache(cache_directory(), "tcpasses").put(key, {"pipeline": found}, b"")


def _remember(key: str, stages: dict[str, str]) -> None:
    if len(_MEMORY) >= _MEMORY_LIMIT:
        del _MEMORY[next(iter(_MEMORY))]
    _MEMORY[key] = stages
