"""Random streams in the graph (Theano's RandomStreams), drawn with Philox4x32-10.

    from tc.random import RandomStreams
    srng = RandomStreams(seed=234)
    rv_u = srng.uniform((2, 2))
    f = tc.function([], rv_u)           # a new matrix on every call
    g = tc.function([], srng.normal((2, 2)), no_default_updates=True)  # the same one

Every random variable owns a stream: a shared `tensor<2xi64>` holding its
key (derived from the seed and the stream's index) and the number of draws
so far. A function that draws advances the stream after the call (the
state's default update); the numbers follow `tc.ir.ops.random` exactly, so
a seed gives the same numbers in every process and on any number of threads.
"""

from __future__ import annotations

import numpy as np

from tc.frontend import tensor as T
from tc.frontend.config import config
from tc.frontend.constructors import alloc, arange
from tc.frontend.graph import (
    Apply,
    Constant,
    Variable,
    as_tensor_variable,
    cast_to,
    constant,
    parse_dtype,
    user_location,
)
from tc.frontend.shared import SharedVariable
from tc.ir import DType, TcTypeError, TcValueError, TensorType
from tc.ir.ops import random as rnd

from .compile import shared

DEFAULT_SEED = 12345


def stream_key(seed: int, index: int) -> int:
    """The 64-bit Philox key of stream `index` under `seed`: Philox itself as the hash."""
    seed &= 0xFFFFFFFFFFFFFFFF
    words = rnd.philox4x32([index & 0xFFFFFFFF, index >> 32, 0x5EED, 0], [seed & 0xFFFFFFFF, seed >> 32])
    key = int(words[0]) | (int(words[1]) << 32)
    return key - (1 << 64) if key >= 1 << 63 else key  # stored as int64


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TcTypeError(f"a random seed must be an integer, found {seed!r}")
    return int(seed)


def _symbolic_size(size: Variable) -> tuple[tuple[None, ...], Variable]:
    """A size given as an integer vector variable (such as `x.shape`)."""
    if size.type.rank != 1 or not size.type.dtype.is_integer or size.type.shape[0] is None:
        raise TcTypeError(
            f"a symbolic size must be an integer vector of known length (like x.shape), found {size.type}"
        )
    return (None,) * size.type.shape[0], cast_to(size, DType.I64)


def _size_vector(size: tuple[object, ...] | list[object]) -> Variable:
    """A size of symbolic lengths and integers, `(W.shape[1], 3)`, as one int64 vector."""
    from tc.frontend.shape_ops import stack

    entries = []
    for dim in size:
        entry = as_tensor_variable(dim)
        if entry.type.rank != 0 or not entry.type.dtype.is_integer:
            raise TcTypeError(f"each entry of a size must be an integer scalar, found {entry.type}")
        entries.append(cast_to(entry, DType.I64))
    return stack(entries)


def _check_size(size: object) -> tuple[int, ...]:
    shape = (size,) if isinstance(size, (int, np.integer)) else size
    if not isinstance(shape, (tuple, list)):
        raise TcTypeError(f"size must be an int, a tuple of ints or a shape like x.shape, found {size!r}")
    result = []
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 0:
            raise TcValueError(f"size must be non-negative integers, found {size!r}")
        result.append(int(dim))
    return tuple(result)


def _scalar_param(value: object, dtype: DType, what: str) -> Variable:
    variable = value if isinstance(value, Variable) else constant(value, dtype=dtype.theano_name)
    if variable.type.rank != 0:
        raise TcTypeError(f"{what} must be a scalar, found {variable.type}")
    return cast_to(variable, dtype)


def _constant_value(value: object) -> float | None:
    if isinstance(value, (int, float, np.number)):
        return float(value)  # type: ignore[arg-type]
    return None


class RandomStreams:
    """Theano's `RandomStreams(seed)`: a factory of random variables that share a seed."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = DEFAULT_SEED if seed is None else _check_seed(seed)
        self._states: list[SharedVariable] = []

    @property
    def state_updates(self) -> list[tuple[SharedVariable, Variable]]:
        """(state, its update) for every stream made so far, as Theano's list of pairs."""
        return [(state, state.default_update) for state in self._states]

    def seed(self, seed: int) -> None:
        """Reseed every stream made so far, deterministically (and restart it)."""
        self._seed = _check_seed(seed)
        for index, state in enumerate(self._states):
            state.set_value(np.array([stream_key(self._seed, index), 0], dtype=np.int64))

    def _draw(
        self,
        op_class: type[rnd.RandomOp],
        size: object,
        dtype: DType,
        params: list[Variable],
        attributes: dict | None = None,
    ) -> Variable:
        operands = [*params]
        if isinstance(size, (tuple, list)) and any(isinstance(d, Variable) for d in size):
            size = _size_vector(size)
        if isinstance(size, Variable):
            shape, size_vector = _symbolic_size(size)
            operands.append(size_vector)
        else:
            shape = _check_size(size)
        index = len(self._states)
        state = shared(np.array([stream_key(self._seed, index), 0], dtype=np.int64), name=f"rng_state{index}")
        state.default_update = state + np.array([0, 1], dtype=np.int64)
        self._states.append(state)
        location = user_location()
        out = Variable(TensorType(dtype, shape), location=location)
        Apply(op_class, [state, *operands], attributes or {}, [out], location)
        return _with_stream(out, state)

    def uniform(
        self,
        size: object = None,
        low: object = 0.0,
        high: object = 1.0,
        dtype: object = None,
        ndim: int | None = None,
    ) -> Variable:
        """Uniform floats in [low, high); tensor bounds broadcast elementwise (Theano's)."""
        kind = _float_dtype(dtype)
        if _is_tensor(low) or _is_tensor(high):
            lo, hi = _tensor_param(low, kind), _tensor_param(high, kind)
            unit = self.uniform(_broadcast_size(size, [lo, hi]), 0.0, 1.0, kind.theano_name)
            return _with_stream(lo + (hi - lo) * unit, unit.rng)
        lo_value, hi_value = _constant_value(low), _constant_value(high)
        if lo_value is not None and hi_value is not None and lo_value > hi_value:
            raise TcValueError(f"uniform: low ({low}) is greater than high ({high})")
        params = [_scalar_param(low, kind, "low"), _scalar_param(high, kind, "high")]
        return self._draw(rnd.RandomUniform, _no_none(size), kind, params)

    def normal(
        self,
        size: object = None,
        avg: object = 0.0,
        std: object = 1.0,
        dtype: object = None,
        ndim: int | None = None,
    ) -> Variable:
        """Normal floats with mean `avg` and standard deviation `std` (Box-Muller); tensor
        parameters broadcast elementwise."""
        kind = _float_dtype(dtype)
        if _is_tensor(avg) or _is_tensor(std):
            mean, deviation = _tensor_param(avg, kind), _tensor_param(std, kind)
            unit = self.normal(_broadcast_size(size, [mean, deviation]), 0.0, 1.0, kind.theano_name)
            return _with_stream(mean + deviation * unit, unit.rng)
        s = _constant_value(std)
        if s is not None and s < 0:
            raise TcValueError(f"normal: std must be non-negative, found {std}")
        params = [_scalar_param(avg, kind, "avg"), _scalar_param(std, kind, "std")]
        return self._draw(rnd.RandomNormal, _no_none(size), kind, params)

    def binomial(
        self,
        size: object = None,
        n: object = 1,
        p: object = 0.5,
        dtype: object = "int64",
        ndim: int | None = None,
    ) -> Variable:
        """Successes in `n` Bernoulli(p) trials per element; a tensor `p` (or a constant
        array `n`) broadcasts elementwise, as Theano's `binomial(size=h.shape, n=1, p=h)`."""
        kind = parse_dtype(dtype)
        if _is_tensor(p) or _is_tensor(n):
            return self._binomial_tensor(size, n, p, kind)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= 1024:
            raise TcValueError(f"binomial: n must be an integer in [0, 1024], found {n!r}")
        prob = _constant_value(p)
        if prob is not None and not 0.0 <= prob <= 1.0:
            raise TcValueError(f"binomial: p must be in [0, 1], found {p}")
        return self._draw(
            rnd.RandomBinomial, _no_none(size), kind, [_scalar_param(p, DType.F64, "p")], {"trials": int(n)}
        )

    def _binomial_tensor(self, size: object, n: object, p: object, kind: DType) -> Variable:
        """Trial k of element i succeeds when its uniform is below p[i] and k < n[i]."""
        prob = _tensor_param(p, DType.F64)  # compared with 53-bit uniforms, as the scalar op does
        trials = _trial_counts(n)
        shape = _broadcast_size(size, [prob] if trials.ndim == 0 else [prob, trials])
        rank = _rank_of(shape)
        most = int(np.max(trials.data)) if trials.data.size else 0
        if most <= 1:
            unit = self.uniform(shape, 0.0, 1.0, prob.dtype)
            hits = T.lt(unit, prob)
            if trials.ndim > 0 or most == 0:
                hits = T.and_(hits, T.gt(trials, 0))
            return _with_stream(T.cast(hits, kind.theano_name), unit.rng)
        if isinstance(shape, Variable):  # a run-time size must be a shape: that of a template
            dims = [shape[i] for i in range(rank)]
            counts: object = alloc(np.float64(0.0), most, *dims).shape
        else:
            counts = (most, *_check_size(shape))
        unit = self.uniform(counts, 0.0, 1.0, prob.dtype)
        k = arange(most).dimshuffle(0, *["x"] * rank)
        hits = T.and_(T.lt(unit, prob), T.lt(k, trials))
        return _with_stream(T.cast(T.sum(hits, axis=0), kind.theano_name), unit.rng)

    def random_integers(self, size: object = (), low: int = 0, high: int = 1) -> Variable:
        """Uniform int64 integers in [low, high], both ends included (Theano)."""
        for value in (low, high):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TcTypeError(f"random_integers: low and high must be integers, found {value!r}")
        if low > high:
            raise TcValueError(f"random_integers: low ({low}) is greater than high ({high})")
        if high - low >= 2**32 - 1:
            raise TcValueError("random_integers: the range may hold at most 2^32 - 1 values")
        params = [
            _scalar_param(np.int64(low), DType.I64, "low"),
            _scalar_param(np.int64(high), DType.I64, "high"),
        ]
        return self._draw(rnd.RandomIntegers, size, DType.I64, params)

    def permutation(self, n: int) -> Variable:
        """A random ordering of 0..n-1 (int64)."""
        count = _population(n, "permutation")
        return self._draw(rnd.RandomPermutation, (count,), DType.I64, [], {"population": count})

    def choice(self, size: object = (), a: object = 2, replace: bool = True, p: object = None) -> Variable:
        """numpy's choice: draws from range(a) for an integer `a`, else from the entries of the
        vector `a`; with replacement or not; optionally weighted by the vector `p`."""
        integer_population = isinstance(a, (int, np.integer)) and not isinstance(a, bool)
        if integer_population and p is None:
            population = _population(a, "choice")
            if replace:
                if population == 0:
                    raise TcValueError("choice: cannot draw from an empty population")
                return self.random_integers(size, 0, population - 1)
            shape = _check_size(size)
            count = int(np.prod(shape, dtype=np.int64))
            if count > population:
                raise TcValueError(f"choice: cannot take {count} of {population} items without replacement")
            return self._draw(rnd.RandomPermutation, shape, DType.I64, [], {"population": population})
        values = (
            constant(np.arange(_population(a, "choice"))) if integer_population else as_tensor_variable(a)
        )
        if values.type.rank != 1:
            raise TcTypeError(f"choice: `a` must be an integer or a vector, found {values.type}")
        operands = [values]
        if p is not None:
            if not replace:
                raise TcValueError("choice: weighted draws without replacement are not supported")
            weights = cast_to(as_tensor_variable(p), DType.F64)
            constant_weights = getattr(weights, "data", None)
            if constant_weights is not None and (np.any(constant_weights < 0) or constant_weights.sum() <= 0):
                raise TcValueError("choice: p must be non-negative with a positive sum")
            if weights.type.rank != 1:
                raise TcTypeError(f"choice: p must be a vector, found {weights.type}")
            operands.append(weights)
        shape = _check_size(size)
        known = values.type.shape[0]
        if not replace and known is not None and int(np.prod(shape, dtype=np.int64)) > known:
            raise TcValueError(
                f"choice: cannot take {int(np.prod(shape))} of {known} items without replacement"
            )
        attributes = {"replace": bool(replace), "weighted": p is not None}
        return self._draw(rnd.RandomChoice, shape, values.type.dtype, operands, attributes)

    def integers(self, low: int, high: int | None = None, size: object = ()) -> Variable:
        """numpy's Generator.integers: [low, high), or [0, low) when high is None."""
        if high is None:
            low, high = 0, low
        return self.random_integers(size, low, int(high) - 1)


def _with_stream(out: Variable, state: SharedVariable) -> Variable:
    """Theano's `rv.rng` (the stream's state) and `rv.update` (its default update)."""
    out.rng = state  # type: ignore[attr-defined]
    out.update = (state, state.default_update)  # type: ignore[attr-defined]
    return out


def _is_tensor(value: object) -> bool:
    """A parameter that is not a scalar: drawn elementwise instead of by the op's scalar operand."""
    if isinstance(value, Variable):
        return value.ndim > 0
    return isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) > 0


def _tensor_param(value: object, dtype: DType) -> Variable:
    return cast_to(as_tensor_variable(value), dtype)  # type: ignore[arg-type]


def _no_none(size: object) -> object:
    return () if size is None else size


def _broadcast_size(size: object, params: list[Variable]) -> object:
    """`size`, or where it is None the broadcast shape of the parameters (Theano's default)."""
    if size is not None:
        return size
    total = params[0]
    for param in params[1:]:
        total = total + param
    if all(d is not None for d in total.type.shape):
        return tuple(total.type.shape)
    return total.shape


def _rank_of(size: object) -> int:
    if isinstance(size, Variable):
        return int(size.type.shape[0] or 0)
    return 1 if isinstance(size, (int, np.integer)) else len(size)  # type: ignore[arg-type]


def _trial_counts(n: object) -> Constant:
    """n as a constant array: a symbolic n would leave the number of trials unknown."""
    if isinstance(n, Variable) and not isinstance(n, Constant):
        raise TcTypeError(f"binomial: n must be an integer or a constant array of integers, found {n}")
    counts = n if isinstance(n, Constant) else constant(np.asarray(n))
    if counts.data.dtype.kind not in "iub" or np.any(counts.data < 0) or np.any(counts.data > 1024):
        raise TcValueError(f"binomial: n must be integers in [0, 1024], found {n!r}")
    return counts


def _population(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n < 2**32:
        raise TcValueError(f"{what}: the population must be an integer in [0, 2^32), found {n!r}")
    return int(n)


def _float_dtype(dtype: object) -> DType:
    kind = parse_dtype(dtype if dtype is not None else config.floatX)
    if not kind.is_float:
        raise TcTypeError(f"expected a float dtype (float32 or float64), found {kind.theano_name}")
    return kind
