"""`tc graph`: a function's dataflow as Graphviz DOT, and SVG/PNG through Graphviz's `dot`.

The DOT text is written by hand, so it needs nothing installed; rendering
to an image needs the `dot` program.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tc.ir import Function, TcError, Value

IMAGE_FORMATS = ("svg", "png", "pdf")
INSTALL_HINT = (
    "Install Graphviz: apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS) "
    "or conda install graphviz"
)


class GraphvizMissing(TcError):
    """The `dot` program is needed for an image and is not installed."""


def function_dot(function: Function) -> str:
    """One node per argument and op, one edge per value use; fused kernels list their body."""
    lines = [
        f"digraph {_quote(function.name)} {{",
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=8, color="#555555"];',
    ]
    ids: dict[Value, str] = {}
    for index, arg in enumerate(function.args):
        node = f"arg{index}"
        ids[arg] = node
        label = "\\n".join(_escape(part) for part in (f"%{arg.name or index}", str(arg.type)))
        lines.append(f'  {node} [label="{label}", shape=ellipse, style=filled, fillcolor="#dde8f7"];')
    for index, op in enumerate(function.body.ops):
        node = f"op{index}"
        for result in op.results:
            ids[result] = node
        lines.append(f"  {node} [{_op_attributes(op)}];")
        for operand in op.operands:
            source = ids.get(operand)
            if source is not None:
                lines.append(f'  {source} -> {node} [label="{_escape(str(operand.type))}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _op_attributes(op) -> str:  # type: ignore[no-untyped-def]
    title = op.name
    symbol = op.attributes.get("global")
    if symbol is not None:
        title += f" @{getattr(symbol, 'name', symbol)}"
    parts = [title]
    if op.name == "tx.constant":
        value = op.attributes.get("value")
        parts.append(_short(value.literal() if hasattr(value, "literal") else str(value)))
    body = [inner.name for region in op.regions for block in region.blocks for inner in block.ops]
    if body:
        parts.append("{" + ", ".join(n.removeprefix("tx.") for n in body if n != "kernel.yield") + "}")
    types = ", ".join(str(r.type) for r in op.results)
    if types:
        parts.append(types)
    if op.location is not None:
        parts.append(str(op.location))
    label = "\\n".join(_escape(p) for p in parts)
    if op.name in ("return", "func.return"):
        return f'label="{label}", shape=doubleoctagon'
    if op.name in ("tx.load", "tx.store"):
        return f'label="{label}", shape=cylinder, style=filled, fillcolor="#f7ecd2"'
    if op.regions:
        return f'label="{label}", shape=box3d, style=filled, fillcolor="#e4f2e0"'
    return f'label="{label}", shape=box'


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _quote(text: str) -> str:
    return f'"{_escape(text)}"'


def write_graph(dot: str, output: Path) -> str:
    """Write `dot` as `output` (.dot, or an image through Graphviz); a line saying what was written."""
    kind = output.suffix.lower().lstrip(".")
    if kind in ("dot", "gv"):
        output.write_text(dot, encoding="utf-8")
        return f"wrote {output}"
    if kind not in IMAGE_FORMATS:
        raise TcError(
            f"cannot write '{output}': use a .dot, .gv, {', '.join('.' + f for f in IMAGE_FORMATS)} file"
        )
    program = shutil.which("dot")
    if program is None:
        fallback = output.with_suffix(".dot")
        fallback.write_text(dot, encoding="utf-8")
        raise GraphvizMissing(
            f"writing {output} needs Graphviz's `dot` program, which is not installed; "
            f"wrote {fallback} instead. {INSTALL_HINT}."
        )
    done = subprocess.run(
        [program, f"-T{kind}", "-o", str(output)], input=dot, text=True, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise TcError(f"Graphviz's dot failed on {output}: {done.stderr.strip() or done.returncode}")
    return f"wrote {output}"
