"""Theano's `Mode`: how a function is linked and optimised, accepted for compatibility.

tc compiles every function one way (its pass pipeline, then native code), so
`tc.function(..., mode=tc.Mode(linker="cvm", optimizer="fast_run"))` compiles
exactly as without `mode`; the object keeps what it was given, for code that
reads it back (`mode.linker`, `mode.optimizer`) or derives modes from it.
"""

from __future__ import annotations


class Mode:
    """Theano's `theano.Mode(linker=..., optimizer=...)`; tc ignores both."""

    def __init__(self, linker: object = None, optimizer: object = "default") -> None:
        self.linker = linker
        self.optimizer = optimizer
        self.tags: tuple[tuple[str, str], ...] = ()

    def _with(self, kind: str, tags: tuple[str, ...]) -> Mode:
        mode = Mode(self.linker, self.optimizer)
        mode.tags = self.tags + tuple((kind, tag) for tag in tags)
        return mode

    def including(self, *tags: str) -> Mode:
        return self._with("including", tags)

    def excluding(self, *tags: str) -> Mode:
        return self._with("excluding", tags)

    def requiring(self, *tags: str) -> Mode:
        return self._with("requiring", tags)

    def clone(self, link_kwargs: object = None, optimizer: object = "", **kwargs: object) -> Mode:
        mode = Mode(self.linker, self.optimizer if optimizer == "" else optimizer)
        mode.tags = self.tags
        return mode

    def __repr__(self) -> str:
        return f"Mode(linker={self.linker!r}, optimizer={self.optimizer!r})"


FAST_RUN = Mode("cvm", "fast_run")
FAST_COMPILE = Mode("vm", "fast_compile")
