"""Argument values for the fuzzer's programs: edge values of every dtype, passed to tc in
odd memory layouts (Fortran order, transposed, stepped, reversed, unaligned, stride 0).

The values are what numpy computes on; the layouts only change how the same values
sit in memory, except `broadcast`, whose stride-0 view repeats the first slice (the
values are then taken from the view).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy_reference as ref

if TYPE_CHECKING:
    from graphs import Program

# -- input values --------------------------------------------------------------------------

_FLOAT_EDGES = {
    "float64": [
        np.nan,
        np.inf,
        -np.inf,
        -0.0,
        0.0,
        5e-324,
        -2.2e-310,
        1.7976931348623157e308,
        -1e308,
        2.2250738585072014e-308,
        0.5,
        -0.5,
        1.5,
        2.5,
        -2.5,
        1.0,
        -1.0,
        710.0,
        -745.0,
        1e16,
        0.49999999999999994,
    ],
    "float32": [
        np.nan,
        np.inf,
        -np.inf,
        -0.0,
        0.0,
        1e-45,
        -1.2e-40,
        3.4028235e38,
        -3e38,
        1.1754944e-38,
        0.5,
        -0.5,
        1.5,
        2.5,
        -2.5,
        1.0,
        -1.0,
        89.0,
        -104.0,
        16777217.0,
        0.49999997,
    ],
}


def random_values(rng: np.random.Generator, dtype: str, shape: tuple[int, ...], edges: float) -> np.ndarray:
    """Values of `dtype`: mostly moderate, with a fraction `edges` of edge values."""
    size = int(np.prod(shape, dtype=np.int64))
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype in ref.FLOAT_DTYPES:
        scale = rng.choice([1.0, 3.0, 30.0])
        base = (rng.standard_normal(size) * scale).astype(dtype)
        special = np.array(_FLOAT_EDGES[dtype], dtype)
    else:
        info = np.iinfo(dtype)
        if rng.random() < 0.7:
            base = rng.integers(max(info.min, -6), min(info.max, 7), size, endpoint=True).astype(dtype)
        else:
            base = rng.integers(info.min, info.max, size, endpoint=True, dtype=dtype)
        special = np.array(
            [info.min, info.max, 0, 1, info.max - 1, info.min + 1, -1 if info.min else 2], dtype
        )
    mask = rng.random(size) < edges
    base[mask] = rng.choice(special, int(mask.sum()))
    return base.reshape(shape)


def index_values(rng: np.random.Generator, dtype: str, length: int, extent: int) -> np.ndarray:
    """Indices into an axis of `extent`: negative ones too, and rarely one out of range."""
    if extent == 0 or rng.random() < 0.03:
        return rng.integers(-extent - 3, extent + 3, length).astype(dtype)
    return rng.integers(-extent, extent, length).astype(dtype)


# -- memory layouts ------------------------------------------------------------------------

LAYOUTS = ("c", "fortran", "transposed", "stepped", "reversed", "unaligned", "broadcast")


def lay_out(rng: np.random.Generator, value: np.ndarray, layout: str) -> np.ndarray:
    """The same values in another memory layout (a view where numpy can make one)."""
    if value.ndim == 0 and layout != "unaligned":
        return np.array(value)  # np.asfortranarray and np.flip would give a 1-d array
    if layout == "fortran":
        return np.asfortranarray(value)
    if layout == "transposed" and value.ndim >= 2:
        order = list(rng.permutation(value.ndim))
        inverse = list(np.argsort(order))
        return np.ascontiguousarray(value.transpose(order)).transpose(inverse)
    if layout == "stepped" and value.ndim >= 1:
        step = int(rng.integers(2, 4))
        big = np.zeros([d * step for d in value.shape], value.dtype)
        view = big[tuple(slice(None, None, step) for _ in value.shape)]
        view[...] = value
        return view
    if layout == "reversed" and value.ndim >= 1:
        axes = tuple(int(a) for a in np.flatnonzero(rng.random(value.ndim) < 0.7)) or (0,)
        return np.flip(np.ascontiguousarray(np.flip(value, axes)), axes)
    if layout == "unaligned":
        raw = bytearray(value.nbytes + 1)
        view = np.frombuffer(raw, value.dtype, count=value.size, offset=1).reshape(value.shape)
        view[...] = value
        return view
    return np.ascontiguousarray(value)


def broadcast_view(value: np.ndarray, static: tuple[int | None, ...]) -> np.ndarray:
    """A read-only view with stride 0 along the first non-broadcast axis (the values change:
    every slice along it repeats the first), or the value itself when that is impossible."""
    for axis, (size, known_size) in enumerate(zip(value.shape, static, strict=True)):
        if size > 1 and known_size is None:
            first = np.take(value, [0], axis=axis)
            return np.broadcast_to(first, value.shape)
    return value


def draw_arguments(
    program: Program, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """Values for every input (what numpy computes on) and the same values in odd
    layouts (what tc is called with); also the layouts' names, for the report."""
    edges = float(rng.choice([0.0, 0.05, 0.3]))
    values, passed, names = [], [], []
    for node in program.inputs:
        if node.draw is not None:
            value = node.draw(rng)
        else:
            value = random_values(rng, str(node.dtype), node.shape, edges)
        layout = str(rng.choice(LAYOUTS))
        if layout == "broadcast":
            value = broadcast_view(value, node.static)
            view = value
        else:
            view = lay_out(rng, value, layout)
        values.append(np.array(value))
        passed.append(view)
        names.append(f"{node.name}:{layout}")
    return values, passed, ",".join(names)
