"""`parse_module`: the textual IR back into a Module (the reader is ir/text_reader.py).

The reader needs lark, which `import tc` does not load: only text that is parsed pays
for it (a .tx file, IR from the compile cache or a pickle, `tc opt`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import Module


def parse_module(text: str | bytes, filename: str = "<string>", verify: bool = True) -> Module:
    """The module in `text` (bytes are decoded as UTF-8), verified unless `verify` is false.
    Every error is a TcParseError with `file:line:col`."""
    from .text_reader import read_module

    return read_module(text, filename, verify)
