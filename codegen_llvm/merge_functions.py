"""Identical internal functions printed once: the others become aliases of the first.

The lowering outlines a job function per parallel loop (outline.py), and two kernels of the
same shape outline the same code: the logistic regression's softmax and its gradient each
have a row reduction of 17 KB of LLVM IR (a tenth of the module), which LLVM parsed, checked
and emitted twice. Functions are compared as printed, with their own name and their
metadata numbers (alias scopes and loop identifiers, distinct per function) renamed in the
order they appear, and the metadata they reach printed with them: two functions merge only
where their code and the shape of their metadata are the same. Only internal functions of
the same stem (get_unique_name's `name`, `name.1`, ...) and number of lines are compared,
and again once functions they call have merged (two of the MLP's reduction kernels, 17 KB
each, differ only in the jobs they hand to the pool, which merge first). The alias has the
function's type, so calls and the pointers handed to the thread pool work as before.
"""

from __future__ import annotations

import re

from . import llvm_ir as ll

_REFERENCE = r"!(\d+)\b"  # (compiled by `re` when first used: a module with no candidates never does)


def merged(functions: list[ll.Function], texts: list[str], metadata: list[str]) -> list[str]:
    """`texts` (those of `functions`, in order) with every internal function identical to an
    earlier one replaced by an alias of it; `metadata`: the module's metadata lines."""
    groups: dict[tuple[str, int], list[int]] = {}
    for index, function in enumerate(functions):
        if function.linkage == "internal" and function.blocks:
            base, _, number = function.name.rpartition(".")
            stem = base if base and number.isdigit() else function.name
            groups.setdefault((stem, texts[index].count("\n")), []).append(index)
    candidates = [members for members in groups.values() if len(members) > 1]
    if not candidates:
        return texts
    definitions = dict(_definition(line) for line in metadata if line[1:2].isdigit())
    texts = list(texts)
    originals: dict[str, str] = {}  # each alias's name: the function it stands for
    keys: dict[int, str] = {}
    while True:
        found = {}
        for members in candidates:
            first: dict[str, ll.Function] = {}
            for index in (i for i in members if functions[i].name not in originals):
                function = functions[index]
                if index not in keys:
                    keys[index] = _canonical(
                        _calling_originals(texts[index], originals), function.name, definitions
                    )
                if keys[index] in first:
                    texts[index] = _alias(function, first[keys[index]])
                    found[function.name] = first[keys[index]].name
                else:
                    first[keys[index]] = function
        if not found:
            return texts
        # Functions that call the new aliases may now be alike: compared again.
        originals |= found
        for index in [i for i in keys if any(f'@"{name}"' in texts[i] for name in found)]:
            del keys[index]


def _definition(line: str) -> tuple[str, str]:
    """("11", "!{ !10 }") of the metadata line "!11 = !{ !10 }"."""
    number, _, value = line[1:].partition(" = ")
    return number, value


def _calling_originals(text: str, originals: dict[str, str]) -> str:
    """`text` with its calls to aliases made to the functions they stand for."""
    for alias, original in originals.items():
        text = text.replace(f'@"{alias}"', f'@"{original}"')
    return text


def _canonical(text: str, name: str, definitions: dict[str, str]) -> str:
    """`text` with its own name and its metadata numbers renamed, then the definitions of the
    metadata it reaches, renamed alike."""
    order: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        return order.setdefault(match.group(1), f"!m{len(order)}")

    body = re.sub(_REFERENCE, rename, text.replace(f'@"{name}"', '@"(self)"'))
    reached = []
    done = 0
    while done < len(order):
        number = list(order)[done]
        reached.append(re.sub(_REFERENCE, rename, definitions.get(number, "?")))
        done += 1
    return body + "\n".join(reached)


def _alias(function: ll.Function, original: ll.Function) -> str:
    kind = function.function_type
    return f'@"{function.name}" = internal alias {kind}, {kind}* @"{original.name}"'
