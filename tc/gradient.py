"""Gradients: `tc.grad` and the numeric check behind Theano's `verify_grad`.

    from tc.gradient import verify_grad
    verify_grad(lambda a, b: T.tanh(a) * b, [np.random.rand(3, 4), np.random.rand(4)])

`verify_grad` compiles `fun`'s output projected on a random tensor (so the
cost is a scalar that every output element affects), differentiates it with
`tc.grad`, and compares the symbolic gradient with central finite
differences at the given point. A mismatch raises `GradientCheckError`
with the worst element and both values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from . import pass_cache
from .compile import function
from .frontend import gradient as _frontend
from .frontend.gradient import DisconnectedType, Lop, Rop, disconnected_grad, grad, zero_grad
from .frontend.graph import Variable
from .ir.dtypes import DType
from .ir.errors import TcError, TcTypeError
from .ir.types import TensorType

# T.grad's early check skips the gradients the compile cache knows to expand.
_frontend.expanded_gradients = pass_cache.ExpandedGradients()

# Finite-difference step and tolerances per dtype (Theano's defaults).
_EPS = {DType.F64: 1e-7, DType.F32: 1e-3}
_TOLERANCE = {DType.F64: 1e-4, DType.F32: 1e-2}


class GradientCheckError(TcError, AssertionError):
    """The symbolic gradient and the finite differences disagree."""


def numeric_grad(
    f: Callable[..., float], point: Sequence[np.ndarray], eps: float | None = None
) -> list[np.ndarray]:
    """Central differences of the scalar function `f` at `point` (one array per argument)."""
    arrays = [np.array(p, dtype=np.asarray(p).dtype, copy=True) for p in point]
    grads = []
    for array in arrays:
        step = eps if eps is not None else _EPS.get(DType.from_numpy(array.dtype), 1e-7)
        gradient = np.zeros(array.shape, dtype=np.float64)
        flat, out = array.reshape(-1), gradient.reshape(-1)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + step
            plus = float(f(*arrays))
            flat[i] = original - step
            minus = float(f(*arrays))
            flat[i] = original
            out[i] = (plus - minus) / (2 * step)
        grads.append(gradient)
    return grads


def verify_grad(
    fun: Callable[..., Variable],
    pt: Sequence[np.ndarray],
    n_tests: int = 2,
    rng: np.random.Generator | np.random.RandomState | None = None,
    eps: float | None = None,
    abs_tol: float | None = None,
    rel_tol: float | None = None,
) -> None:
    """Check `tc.grad` of `fun` at `pt` against finite differences (Theano's verify_grad)."""
    point = [np.asarray(p) for p in pt]
    for index, p in enumerate(point):
        if p.dtype.kind != "f":
            raise TcTypeError(f"verify_grad: pt[{index}] has dtype {p.dtype}; the point must be float arrays")
    rng = rng if rng is not None else np.random.default_rng(42)
    inputs = [
        Variable(TensorType(DType.from_numpy(p.dtype), p.shape), name=f"pt{i}") for i, p in enumerate(point)
    ]
    output = fun(*inputs)
    if not isinstance(output, Variable):
        raise TcTypeError(f"verify_grad: fun must return a symbolic variable, found {output!r}")
    dtype = min((DType.from_numpy(p.dtype) for p in point), key=lambda d: d.itemsize)
    tolerance = _TOLERANCE.get(dtype, 1e-4)
    abs_tol = tolerance if abs_tol is None else abs_tol
    rel_tol = tolerance if rel_tol is None else rel_tol
    for _ in range(n_tests):
        shape = tuple(d if d is not None else 1 for d in output.type.shape)
        projection = np.asarray(_random(rng, shape) + 0.5, dtype=output.type.dtype.numpy)
        cost = (output * projection).sum()
        # A gradient may not need every input (d(a + b)/db is 1 whatever a and b are).
        cost_fn = function(inputs, cost, on_unused_input="ignore")
        grad_fn = function(inputs, grad(cost, inputs), on_unused_input="ignore")
        symbolic = grad_fn(*point)
        numeric = numeric_grad(cost_fn, point, eps)
        for index, (s, n) in enumerate(zip(symbolic, numeric, strict=True)):
            _compare(index, np.asarray(s, dtype=np.float64), n, abs_tol, rel_tol)


def _random(rng: np.random.Generator | np.random.RandomState, shape: tuple[int, ...]) -> np.ndarray:
    return rng.random(shape) if isinstance(rng, np.random.Generator) else rng.random_sample(shape)


def _compare(index: int, symbolic: np.ndarray, numeric: np.ndarray, abs_tol: float, rel_tol: float) -> None:
    abs_err = np.abs(symbolic - numeric)
    rel_err = abs_err / np.maximum(np.abs(symbolic) + np.abs(numeric), 1e-8)
    bad = (abs_err > abs_tol) & (rel_err > rel_tol)
    if np.any(bad):
        worst = np.unravel_index(int(np.argmax(np.where(bad, abs_err, -1.0))), symbolic.shape)
        raise GradientCheckError(
            f"verify_grad: the gradient with respect to pt[{index}] disagrees with finite differences at "
            f"{tuple(int(i) for i in worst)}: symbolic {symbolic[worst]!r}, numeric {numeric[worst]!r} "
            f"(abs error {abs_err[worst]:.3g} > {abs_tol}, rel error {rel_err[worst]:.3g} > {rel_tol})"
        )


verify_grad.E_grad = GradientCheckError  # type: ignore[attr-defined]  # Theano's name for the failure

__all__ = [
    "DisconnectedType",
    "GradientCheckError",
    "Lop",
    "Rop",
    "disconnected_grad",
    "grad",
    "numeric_grad",
    "verify_grad",
    "zero_grad",
]
