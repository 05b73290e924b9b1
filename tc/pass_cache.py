"""The pass pipeline's results by the IR it started from, so a warm compile skips the passes.

The optimised IR is a function of the IR the builder made, the passes' and the IR's own
source and tc's version: under that key (the built IR printed with its locations) the
compile cache keeps the two modules a compile needs after the passes — `tir-planned`,
which the shape plans are derived from, and `tir-opt`, which codegen lowers — as flat
records (ir/flat.py: locations included, since error messages name the user's line) with
their text (for `f.dump`); this process keeps them in memory as well. A hit rebuilds the
modules (about a millisecond for a train step, no parser) instead of running the pipeline
(tens of milliseconds); the object code is then found in the cache by the optimised IR.
"""

from __future__ import annotations

from dataclasses import dataclass

from tc.ir import Module
from tc.ir.flat import freeze, thaw
from tc.runtime.cache import CompileCache, cache_directory, cache_key, source_digest

STAGES = ("tir-planned", "tir-opt")


@dataclass(frozen=True)
class Pipelined:
    """What the pipeline made: each stage's text, and both modules frozen (ir/flat.py)."""

    texts: dict[str, str]
    planned: bytes
    optimized: bytes

    def modules(self) -> tuple[Module, Module]:
        """The planned and the optimised module, rebuilt afresh (passes change them in place);
        a TcError if the records are damaged."""
        return thaw(self.planned), thaw(self.optimized)


_MEMORY: dict[str, Pipelined] = {}
_MEMORY_LIMIT = 256  # entries; the oldest goes first


def key_of(tir: str, pipeline: tuple[str, ...]) -> str:
    """The key of running `pipeline` on the module whose located text is `tir`."""
    from tc import __version__

    return cache_key("passes", tir, ",".join(pipeline), source_digest("passes", "ir"), __version__)


def load(key: str) -> Pipelined | None:
    """The pipeline's results, from memory or the disk cache, or None."""
    found = _MEMORY.get(key)
    if found is not None:
        return found
    hit = CompileCache(cache_directory(), "tcpasses").get(key)
    if hit is None:
        return None
    header, payload = hit
    texts, split = header.get("texts"), header.get("split")
    if not isinstance(texts, dict) or set(texts) != set(STAGES) or not isinstance(split, int):
        return None
    if not all(isinstance(text, str) for text in texts.values()) or not 0 <= split <= len(payload):
        return None
    pipelined = Pipelined(texts, payload[:split], payload[split:])
    _remember(key, pipelined)
    return pipelined


def store(key: str, texts: dict[str, str], planned: bytes, optimized: Module) -> None:
    """Keep the pipeline's results: `planned` frozen before the lowering passes changed it."""
    pipelined = Pipelined({name: texts[name] for name in STAGES}, planned, freeze(optimized))
    _remember(key, pipelined)
    header = {"texts": pipelined.texts, "split": len(pipelined.planned)}
    CompileCache(cache_directory(), "tcpasses").put(key, header, pipelined.planned + pipelined.optimized)


def _remember(key: str, pipelined: Pipelined) -> None:
    if len(_MEMORY) >= _MEMORY_LIMIT:
        del _MEMORY[next(iter(_MEMORY))]
    _MEMORY[key] = pipelined
