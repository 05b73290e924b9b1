"""What this machine can do at best, for the profile's fractions: its copy bandwidth and its
matrix-product peak, measured once and kept in the compile cache's directory.

Copy bandwidth: every core copying its share of a 64 MiB float64 array (numpy releases the
GIL while it copies), counted as bytes read plus bytes written, the best of five. GEMM peak:
numpy's 1024 x 1024 product (its BLAS, on all cores) in each float dtype, the best of three.
About half a second, once per machine; `TC_CACHE=0` measures again in every process.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from .cache import cache_directory, private_directory

COPY_ELEMENTS = 1 << 23  # 64 MiB of float64: far past the caches
GEMM_SIZE = 1024


@dataclass(frozen=True)
class MachinePeaks:
    copy_bytes_per_second: float
    gemm_flops_per_second: dict[str, float]  # by dtype: "float32", "float64"
    measured: str  # when (UTC)

    def gemm_peak(self, dtype: str) -> float:
        """The product peak of `dtype`; float64's for anything not a float32 op."""
        return self.gemm_flops_per_second.get(dtype, self.gemm_flops_per_second["float64"])


_measured: MachinePeaks | None = None


def machine_peaks() -> MachinePeaks:
    """This machine's peaks: from this process, the cache, or measured now (and cached)."""
    global _measured
    if _measured is None:
        path = _cache_file()
        _measured = _read(path) if path is not None else None
        if _measured is None:
            _measured = measure()
            if path is not None:
                _write(path, _measured)
    return _measured


def measure() -> MachinePeaks:
    return MachinePeaks(
        _copy_bandwidth(),
        {dtype: _gemm_peak(dtype) for dtype in ("float32", "float64")},
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )


def _copy_bandwidth() -> float:
    threads = max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    source = np.ones(COPY_ELEMENTS)
    target = np.empty_like(source)
    share = -(-COPY_ELEMENTS // threads)
    bounds = [(start, min(start + share, COPY_ELEMENTS)) for start in range(0, COPY_ELEMENTS, share)]

    def copy(bound: tuple[int, int]) -> None:
        np.copyto(target[bound[0] : bound[1]], source[bound[0] : bound[1]])

    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(5):
            started = time.perf_counter()
            list(pool.map(copy, bounds))
            best = min(best, time.perf_counter() - started)
    return 2 * source.nbytes / best


def _gemm_peak(dtype: str) -> float:
    a = np.ones((GEMM_SIZE, GEMM_SIZE), dtype)
    out = np.empty_like(a)
    np.dot(a, a, out=out)  # BLAS's threads started
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        np.dot(a, a, out=out)
        best = min(best, time.perf_counter() - started)
    return 2 * GEMM_SIZE**3 / best


def _cache_file() -> str | None:
    directory = cache_directory()
    if directory is None or private_directory(directory) is None:
        return None
    machine = f"{platform.machine()} {platform.processor()} {_cpu_model()} {os.cpu_count()}"
    digest = hashlib.sha256(machine.encode()).hexdigest()[:16]
    return str(directory / f"machine-peaks-{digest}.json")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _read(path: str) -> MachinePeaks | None:
    try:
        with open(path) as file:
            data = json.load(file)
        peaks = MachinePeaks(
            float(data["copy_bytes_per_second"]),
            {str(k): float(v) for k, v in data["gemm_flops_per_second"].items()},
            str(data["measured"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing or damaged: measured again
    if peaks.copy_bytes_per_second <= 0 or "float64" not in peaks.gemm_flops_per_second:
        return None
    return peaks


def _write(path: str, peaks: MachinePeaks) -> None:
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w") as file:
            json.dump(asdict(peaks), file)
        os.replace(temporary, path)
    except OSError:
        pass  # a cache that cannot be written costs a measurement next time, nothing else
