"""The profile's table: each op's share of the time, its bandwidth and arithmetic rate, and
those as fractions of what this machine does at best (machine_peaks.py).

"%copy" holds an op's bytes per second against copying an array far larger than the caches,
so an op whose data the caches served can pass 100%; "%blas" holds its flops per second
against BLAS's large product of its dtype, which tc's own small-product kernels can pass too.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from .machine_peaks import MachinePeaks, machine_peaks
from .profile import FunctionProfile, trace_events


def print_summary(profile: FunctionProfile, file: Any = None, peaks: MachinePeaks | None = None) -> str:
    """The summary of `profile` as text, also printed to `file` (default stderr)."""
    text = summary_text(profile, peaks or machine_peaks())
    print(text, file=sys.stderr if file is None else file)
    return text


def summary_text(profile: FunctionProfile, peaks: MachinePeaks) -> str:
    total = profile.nanoseconds
    in_ops = profile.op_nanoseconds
    per_call = total / profile.calls / 1e3 if profile.calls else 0.0
    lines = [
        f"Function profile: '{profile.name}': {profile.calls:,} calls ({profile.failed:,} failed), "
        f"{total / 1e9:.4f} s, {per_call:.2f} us per call",
        f"  in its ops {in_ops / 1e9:.4f} s ({_share(in_ops, total)}); outside them (argument checks, "
        f"allocation, Python) {max(total - in_ops, 0) / 1e9:.4f} s",
        f"  machine (measured {peaks.measured}): copy {peaks.copy_bytes_per_second / 1e9:.1f} GB/s, "
        f"BLAS product {peaks.gemm_peak('float32') / 1e9:.1f} GFLOP/s float32, "
        f"{peaks.gemm_peak('float64') / 1e9:.1f} float64",
    ]
    if profile.dropped:
        lines.append(f"  {profile.dropped:,} op runs past the record buffer were not counted")
    lines += ["", _row("%time", "total s", "calls", "us/call", "GB/s", "%copy", "GFLOP/s", "%blas", "op")]
    ran = sorted((op for op in profile.ops.values() if op.calls), key=lambda op: -op.nanoseconds)
    for op in ran:
        seconds = op.nanoseconds / 1e9
        rate = op.bytes / seconds if seconds else 0.0
        flops = op.flops / seconds if seconds else 0.0
        where = f"  {op.location}" if op.location else ""
        lines.append(
            _row(
                _share(op.nanoseconds, total),
                f"{seconds:.4f}",
                f"{op.calls:,}",
                f"{op.nanoseconds / op.calls / 1e3:.2f}",
                f"{rate / 1e9:.2f}",
                _fraction(rate, peaks.copy_bytes_per_second),
                f"{flops / 1e9:.2f}" if op.flops else "-",
                _fraction(flops, peaks.gemm_peak(op.dtype)) if op.flops else "-",
                f"#{op.index} {op.label}{where}",
            )
        )
    if not ran:
        lines.append("  (no op has run)")
    return "\n".join(lines)


def _row(*cells: str) -> str:
    """The cells right-aligned in their columns, a space apart even where one outgrows its
    width (a view's bytes over its nanosecond: a rate in the millions of GB/s)."""
    widths = (6, 8, 7, 9, 7, 6, 8, 6)
    return "  " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=False)) + "   " + cells[-1]


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _fraction(rate: float, peak: float) -> str:
    return f"{100 * rate / peak:.0f}%" if peak else "-"


def write_trace(path: str, profiles: Sequence[FunctionProfile]) -> None:
    """Write `profiles`' timelines as Trace Event Format JSON (chrome://tracing, Perfetto)."""
    with open(path, "w") as file:
        json.dump({"traceEvents": trace_events(list(profiles)), "displayTimeUnit": "ns"}, file)
