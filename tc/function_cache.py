"""tc.function's warm start by the graph: what an earlier compile of the same function made,
found by the function's text (frontend/graph_key.py), with no IR built or printed.

A compile finds its passes' results in the pass cache by the built module's located text
(pass_cache.py); building that module from the graph and printing it took an MLP train
step's warm start about 1.5 ms. So tc.function also remembers, under a key of the
function's text (its graph, name, updates and givens, and the line that compiled it), the
pass cache's key, the built module's text (`f.dump("tir")`), the support library's parts
the code needs, and the shared variable behind each global (by its number in the text). A
later compile of the same text reads that record and goes to the pass cache's entry; where
that entry is gone or the record does not fit the graph, the module is built as before.

The records are as trusted as the rest of the compile cache (only tc writes them); the key
covers the frontend's, the passes' and the IR's source, as the pass cache's covers the
passes' and the IR's.
"""

from __future__ import annotations

from tc.frontend.graph import Variable
from tc.frontend.shared import SharedVariable
from tc.runtime.cache import CompileCache, cache_directory, cache_key, remember, source_digest


class Remembered:
    """What a compile of a function's graph left for the next: the pass cache's key, the
    built module's text, the support library's parts, and each global's variable number."""

    __slots__ = ("pass_key", "tir", "parts", "symbols")

    def __init__(self, pass_key: str, tir: str, parts: list[str], symbols: dict[str, int]) -> None:
        self.pass_key, self.tir, self.parts, self.symbols = pass_key, tir, parts, symbols

    def shared(self, variables: list[Variable]) -> dict[str, SharedVariable] | None:
        """Each global's shared variable among the graph's `variables`; None if one of the
        numbers does not name a shared variable (a record that does not fit)."""
        found = {}
        for symbol, number in self.symbols.items():
            variable = variables[number] if 0 <= number < len(variables) else None
            if not isinstance(variable, SharedVariable):
                return None
            found[symbol] = variable
        return found


_MEMORY: dict[str, Remembered] = {}
_MEMORY_LIMIT = 256  # records; the oldest goes first


def key_of(text: str) -> str:
    """The key of the function whose text (graph_key.function_graph) is `text`."""
    from tc import __version__

    return cache_key("function", text, source_digest("frontend", "passes", "ir"), __version__)


def load(key: str) -> Remembered | None:
    """The record under `key`, from memory or the compile cache, or None."""
    found = _MEMORY.get(key)
    if found is not None:
        return found
    hit = CompileCache(cache_directory(), "tcfunction").get(key)
    if hit is None:
        return None
    header, payload = hit
    pass_key, parts, symbols = header.get("pass_key"), header.get("parts"), header.get("symbols")
    if not isinstance(pass_key, str) or not isinstance(parts, list) or not isinstance(symbols, dict):
        return None
    if not all(isinstance(part, str) for part in parts):
        return None
    if not all(isinstance(s, str) and isinstance(n, int) for s, n in symbols.items()):
        return None
    try:
        tir = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    found = Remembered(pass_key, tir, parts, symbols)
    remember(_MEMORY, key, found, _MEMORY_LIMIT)
    return found


def store(key: str, remembered: Remembered) -> None:
    """Keep `remembered` under `key`, in memory and in the compile cache."""
    remember(_MEMORY, key, remembered, _MEMORY_LIMIT)
    header = {"pass_key": remembered.pass_key, "parts": remembered.parts, "symbols": remembered.symbols}
    CompileCache(cache_directory(), "tcfunction").put_later(key, header, remembered.tir.encode("utf-8"))


def numbers_of(shared: dict[str, SharedVariable], variables: list[Variable]) -> dict[str, int] | None:
    """Each global's number among the graph's `variables` (those of its text); None if one
    of the shared variables is not among them."""
    position = {id(variable): number for number, variable in enumerate(variables)}
    numbers = {symbol: position.get(id(variable), -1) for symbol, variable in shared.items()}
    return None if min(numbers.values(), default=0) < 0 else numbers
