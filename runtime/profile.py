"""`tc.function(..., profile=True)`: where a function's time goes, op by op (Theano's ProfileMode).

The function's code is compiled with a clock read around each op's loops
(codegen_llvm/profile.py); it appends one record per op run to int64 words this module
owns (the layout in ir/calling.py). After every call, failed ones included, the records are
folded into per-op totals (calls, time, bytes, flops) and kept, up to TRACE_LIMIT, as a
timeline: `f.profile.summary()` prints the table, `tc.write_trace(path, f)` writes what
chrome://tracing and Perfetto open. Time outside the ops (argument checks, allocation,
Python) is the call's wall time less theirs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ir import Function, Operation
from ..ir.calling import PROFILE_HEADER, PROFILE_RECORD

CAPACITY = 4096  # records between two drains: a call records one per op
TRACE_LIMIT = 200_000  # events kept for the timeline; later ones count but are not drawn


@dataclass
class OpProfile:
    """What one op of a function did over every profiled call."""

    index: int
    label: str  # what it computes: the op, its body's ops, its result type
    location: str  # the user's line that built it, when known
    dtype: str  # of its first result ("" for none): which GEMM peak it is held against
    calls: int = 0
    nanoseconds: int = 0
    bytes: int = 0
    flops: int = 0


@dataclass
class FunctionProfile:
    """`f.profile` of a function compiled with profile=True."""

    name: str
    ops: dict[int, OpProfile]
    calls: int = 0
    failed: int = 0
    nanoseconds: int = 0  # wall time of every call, from Python
    dropped: int = 0  # records past the capacity (never more than one call's worth)
    events: list[tuple[int, int, int]] = field(default_factory=list)  # (op index or -1, start, end)
    words: np.ndarray = field(init=False, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.words = np.zeros(PROFILE_HEADER + PROFILE_RECORD * CAPACITY, np.int64)
        self.words[1] = CAPACITY

    @property
    def address(self) -> int:
        """Where the code writes its records (NativeModule.set_profile)."""
        return int(self.words.ctypes.data)

    def measure(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`call(*args, **kwargs)`, timed, its ops' records folded in, even if it raises."""
        with self.lock:  # one call at a time writes the records
            started = time.monotonic_ns()
            failed = True
            try:
                result = call(*args, **kwargs)
                failed = False
                return result
            finally:
                ended = time.monotonic_ns()
                self.calls += 1
                self.failed += failed
                self.nanoseconds += ended - started
                self._keep_event(-1, started, ended)
                self.drain()

    def drain(self) -> None:
        """Fold the records written since the last drain into the totals."""
        written = int(self.words[0])
        kept = min(written, CAPACITY)
        self.dropped += written - kept
        records = self.words[PROFILE_HEADER : PROFILE_HEADER + PROFILE_RECORD * kept].reshape(
            kept, PROFILE_RECORD
        )
        for index, start, end, nbytes, flops in records.reshape(kept, PROFILE_RECORD).tolist():
            op = self.ops.get(index)
            if op is None:
                continue  # not an index this function has: nothing to add it to
            op.calls += 1
            op.nanoseconds += end - start
            op.bytes += nbytes
            op.flops += flops
            self._keep_event(index, start, end)
        self.words[0] = 0

    def _keep_event(self, index: int, start: int, end: int) -> None:
        if len(self.events) < TRACE_LIMIT:
            self.events.append((index, start, end))

    @property
    def op_nanoseconds(self) -> int:
        return sum(op.nanoseconds for op in self.ops.values())

    def reset(self) -> None:
        """Forget every call so far (Theano's profile has no reset; timing a warm phase needs one)."""
        with self.lock:
            self.calls = self.failed = self.nanoseconds = self.dropped = 0
            self.events.clear()
            for op in self.ops.values():
                op.calls = op.nanoseconds = op.bytes = op.flops = 0

    def summary(self, file: Any = None, peaks: Any = None) -> str:
        """The table of where the time went, printed to `file` (default stderr) and returned."""
        from .profile_report import print_summary

        return print_summary(self, file, peaks)

    def write_trace(self, path: str) -> None:
        """This function's calls and ops as a timeline that chrome://tracing and Perfetto open."""
        from .profile_report import write_trace

        write_trace(path, [self])


def function_profile(function: Function) -> FunctionProfile:
    """An empty profile for the optimised IR `function`: one entry per op the code times."""
    ops = {index: describe(index, op) for index, op in enumerate(function.body.ops)}
    copies = len(function.body.ops)
    ops[copies] = OpProfile(copies, "copies into the results", "", "")
    return FunctionProfile(function.name, ops)


def describe(index: int, op: Operation) -> OpProfile:
    """The op as the profile shows it: `kernel.elementwise[tanh, add] f32[20,500]`."""
    label = op.name
    if op.regions and op.regions[0].blocks:
        inner = [o.name.removeprefix("tx.") for o in op.regions[0].block.ops]
        inner = [name for name in inner if name not in ("kernel.yield", "constant")]
        if inner:
            shown = inner if len(inner) <= 6 else [*inner[:6], f"+{len(inner) - 6}"]
            label += f"[{', '.join(shown)}]"
    if op.results:
        label += " " + ", ".join(_short_type(r.type) for r in op.results[:2])
    location = str(op.location) if op.location is not None else ""
    dtype = str(op.results[0].type.dtype) if op.results else ""
    return OpProfile(index, label, location, dtype)


def _short_type(type_: Any) -> str:
    dims = ",".join("?" if d is None else str(d) for d in type_.shape)
    return f"{type_.dtype}[{dims}]"


def trace_events(profiles: list[FunctionProfile]) -> list[dict[str, Any]]:
    """The Trace Event Format's complete events ("ph": "X", microseconds) of `profiles`:
    each call on its function's row, its ops nested inside it."""
    events: list[dict[str, Any]] = []
    origin = min((p.events[0][1] for p in profiles if p.events), default=0)
    for row, profile in enumerate(profiles, start=1):
        events.append(
            {"name": "thread_name", "ph": "M", "pid": 1, "tid": row, "args": {"name": profile.name}}
        )
        for index, start, end in profile.events:
            op = profile.ops.get(index)
            event = {
                "name": profile.name if op is None else f"#{op.index} {op.label}",
                "cat": "call" if op is None else "op",
                "ph": "X",
                "ts": (start - origin) / 1000,
                "dur": (end - start) / 1000,
                "pid": 1,
                "tid": row,
            }
            if op is not None and op.location:
                event["args"] = {"location": op.location}
            events.append(event)
    return events
