"""The pass pipeline's results by the IR it started from, so a warm compile skips the passes.

The optimised IR is a function of the IR the builder made, the passes' and the IR's own
source and tc's version: under that key (the built IR printed with its locations) the
compile cache keeps what a compile needs after the passes — `tir-opt`, which codegen
lowers, as flat records (ir/flat.py: locations included, since error messages name the
user's line); its functions' interfaces (tc/optimized.py); the shape plans derived from
`tir-planned` (pickled: plain terms and checks); each function's unused inputs; and the
stages' text (for `f.dump`). This process keeps them in memory as well. A hit plans nothing
and runs no pass (the pipeline takes tens of milliseconds); the module is rebuilt from its
records (about a millisecond for a train step, no parser) only if something asks for the IR.
The object code is then found in the cache by the optimised IR's text.
"""

from __future__ import annotations

import functools
import pickle
from typing import NamedTuple

from tc.ir import TcError
from tc.ir.flat import freeze, thaw
from tc.ir.shapes import ShapePlan
from tc.runtime.cache import CompileCache, cache_directory, cache_key, remember, source_digest

from .optimized import FunctionInterface, OptimizedModule

STAGES = ("tir-planned", "tir-opt")
LAYOUT = 2  # of an entry (here and in optimized.py): a change to what an entry keeps bumps it


class Pipelined(NamedTuple):
    """What the pipeline made: each stage's text, the unused inputs of each function, its
    interface and shape plan (pickled together), and the optimised module frozen
    (ir/flat.py). (Named tuples here and in the other records `import tc` defines: a frozen
    dataclass took 0.3-0.6 ms to define.)"""

    texts: dict[str, str]
    unused: dict[str, list[str]]
    plans: bytes
    optimized: bytes

    def results(self) -> tuple[OptimizedModule, dict[str, ShapePlan]]:
        """The optimised module (rebuilt afresh when asked for: passes change modules in
        place) and the shape plans; a TcError if the records are damaged."""
        try:
            plans, (functions, globals_) = pickle.loads(self.plans)
        except Exception as err:  # noqa: BLE001 (any damage to the bytes)
            raise TcError(f"not saved shape plans: {err}") from None
        if not isinstance(plans, dict) or not all(isinstance(p, ShapePlan) for p in plans.values()):
            raise TcError("not saved shape plans")
        if not all(isinstance(f, FunctionInterface) for f in functions):
            raise TcError("not saved function interfaces")
        return OptimizedModule(functions, globals_, functools.partial(thaw, self.optimized)), plans


_MEMORY: dict[str, Pipelined] = {}
_MEMORY_LIMIT = 256  # entries; the oldest goes first


def key_of(tir: str, pipeline: tuple[str, ...]) -> str:
    """The key of running `pipeline` on the module whose located text is `tir`."""
    from tc import __version__

    return cache_key(
        "passes", str(LAYOUT), tir, ",".join(pipeline), source_digest("passes", "ir"), __version__
    )


def load(key: str) -> Pipelined | None:
    """The pipeline's results, from memory or the disk cache, or None."""
    found = _MEMORY.get(key)
    if found is not None:
        return found
    hit = CompileCache(cache_directory(), "tcpasses").get(key)
    if hit is None:
        return None
    header, payload = hit
    texts, unused, split = header.get("texts"), header.get("unused"), header.get("split")
    if not isinstance(texts, dict) or set(texts) != set(STAGES) or not isinstance(split, int):
        return None
    if not all(isinstance(text, str) for text in texts.values()) or not 0 <= split <= len(payload):
        return None
    if not isinstance(unused, dict) or not all(isinstance(names, list) for names in unused.values()):
        return None
    pipelined = Pipelined(texts, unused, payload[:split], payload[split:])
    remember(_MEMORY, key, pipelined, _MEMORY_LIMIT)
    return pipelined


def store(
    key: str,
    texts: dict[str, str],
    unused: dict[str, list[str]],
    plans: dict[str, ShapePlan],
    optimized: OptimizedModule,
) -> None:
    """Keep the pipeline's results: `plans` derived before the lowering passes ran. Plans
    that do not pickle (plain terms and checks always do) are not kept: a cache never fails
    a compile."""
    try:
        saved = pickle.dumps((plans, optimized.interface()), protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return
    pipelined = Pipelined({name: texts[name] for name in STAGES}, unused, saved, freeze(optimized.module))
    remember(_MEMORY, key, pipelined, _MEMORY_LIMIT)
    header = {"texts": pipelined.texts, "unused": unused, "split": len(saved)}
    CompileCache(cache_directory(), "tcpasses").put_later(key, header, saved + pipelined.optimized)


class ExpandedGradients:
    """The texts of scratch graphs whose gradient expanded without error or warning
    (frontend/gradient.py's early check in `T.grad`), by key, in memory and in the compile
    cache: the frontend and the grad pass, of the same source, lower and expand the same
    text the same way again."""

    def __init__(self) -> None:
        self._known: set[str] = set()

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        key = _gradient_key(text)
        if key not in self._known and CompileCache(cache_directory(), "tcgrad").get(key) is None:
            return False
        self._known.add(key)
        return True

    def add(self, text: str) -> None:
        key = _gradient_key(text)
        self._known.add(key)
        CompileCache(cache_directory(), "tcgrad").put_later(key, {}, b"")


def _gradient_key(text: str) -> str:
    from tc import __version__

    # frontend: the text may be the graph's (frontend/graph_key.py), which the frontend lowers
    return cache_key("gradient expands", text, source_digest("frontend", "passes", "ir"), __version__)
