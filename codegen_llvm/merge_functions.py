"""Identical internal functions printed once: the others become aliases of the first.

The lowering outlines a job function per parallel loop (outline.py), and two kernels of the
same shape outline the same code: the logistic regression's softmax and its gradient each
have a row reduction of 17 KB of LLVM IR (a tenth of the module), which LLVM parsed, checked
and emitted twice. Functions are compared as printed, with their own name and their
metadata numbers (alias scopes and loop identifiers, distinct per function) renamed in the
order they appear, and the metadata they reach printed with them: two functions merge only
where their code and the shape of their metadata are the same. Only internal functions of
the same stem (get_unique_name's `name`, `name.1`, ...) and number of lines are compared. The alias
has the function's type, so calls and the pointers handed to the thread pool work as before.
"""

from __future__ import annotations

import re

from llvmlite import ir as ll

_REFERENCE = re.compile(r"!(\d+)\b")
_DEFINITION = re.compile(r"!(\d+) = (.*)")


def merged(functions: list[ll.Function], texts: list[str], metadata: list[str]) -> list[str]:
    """`texts` (those of `functions`, in order) with every internal function identical to an
    earlier one replaced by an alias of it; `metadata`: the module's metadata lines."""
    groups: dict[tuple[str, int], list[int]] = {}
    for index, function in enumerate(functions):
        if function.linkage == "internal" and function.blocks:
            stem = re.sub(r"\.\d+$", "", function.name)
            groups.setdefault((stem, texts[index].count("\n")), []).append(index)
    candidates = [members for members in groups.values() if len(members) > 1]
    if not candidates:
        return texts
    definitions = {m.group(1): m.group(2) for m in map(_DEFINITION.fullmatch, metadata) if m is not None}
    texts = list(texts)
    for members in candidates:
        first: dict[str, ll.Function] = {}
        for index in members:
            function = functions[index]
            key = _canonical(texts[index], function.name, definitions)
            if key in first:
                texts[index] = _alias(function, first[key])
            else:
                first[key] = function
    return texts


def _canonical(text: str, name: str, definitions: dict[str, str]) -> str:
    """`text` with its own name and its metadata numbers renamed, then the definitions of the
    metadata it reaches, renamed alike."""
    order: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        return order.setdefault(match.group(1), f"!m{len(order)}")

    body = _REFERENCE.sub(rename, text.replace(f'@"{name}"', '@"(self)"'))
    reached = []
    done = 0
    while done < len(order):
        number = list(order)[done]
        reached.append(_REFERENCE.sub(rename, definitions.get(number, "?")))
        done += 1
    return body + "\n".join(reached)


def _alias(function: ll.Function, original: ll.Function) -> str:
    kind = function.function_type
    return f'@"{function.name}" = internal alias {kind}, {kind}* @"{original.name}"'
