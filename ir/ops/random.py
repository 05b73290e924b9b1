"""Counter-based random numbers: Philox4x32-10 (Salmon et al., Random123, SC'11).

A stream's state is a shared `tensor<2xi64>`: [key, draws]. The key's low
and high 32 bits are Philox's two key words; `draws` counts the calls that
have drawn from the stream. Element i of a draw is computed from the block

    counter = (lo32(i), hi32(i), lo32(draws), sub),   key = (lo32(key), hi32(key))

where `sub` numbers the blocks one element needs (binomial trials). Nothing
depends on which thread or GPU block computes an element, so the numbers are
the same on any number of threads and on every device.

Conversions (exact, no fused multiply-add, so every backend agrees bit for bit):

- uniform f64: 53 bits, ((w0 >> 5) * 2^26 + (w1 >> 6)) * 2^-53 in [0, 1),
  then low + (high - low) * u; f32: (w0 >> 8) * 2^-24.
- normal: Box-Muller on pairs: block j gives u1 = (53 bits + 1) * 2^-53 in
  (0, 1] from w0, w1 and u2 in [0, 1) from w2, w3, and with r = sqrt(-2 log u1)
  elements 2j and 2j + 1 are avg + std * r cos(2 pi u2) and avg + std * r sin(2 pi u2).
- integers in [low, high] (a range of at most 2^32 - 1 values): 64 random
  bits x = (w1 << 32) + w0 times the range, keeping the high 64 bits of the
  product (Lemire's multiply-shift, no division, no modulo); the bias is
  below range / 2^64.
- binomial(n, p): the number of n independent blocks whose 53-bit uniform is < p.
- choice from a vector of n values: with replacement, index j = the
  multiply-shift of element i's block over n, or with weights p the first j
  whose running sum of p (summed in order, in float64) exceeds
  u * sum(p), u the 53-bit uniform of element i's block; without
  replacement, the permutation below picks the indices.
- permutation / choice without replacement: a partial Fisher-Yates shuffle of
  0..n-1, step i swapping position i with i + (multiply-shift of element i's
  block over n - i); the first k positions are the result. The swaps run in
  order on one thread, so the result is still the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..attributes import Attribute, attr
from ..core import FRESH, Operation, Region, Value, between
from ..dtypes import DType
from ..errors import TcTypeError
from ..types import TensorType

PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
TWO_PI = 6.283185307179586

_MASK = np.uint64(0xFFFFFFFF)


def philox4x32(
    counter: Sequence[np.ndarray], key: Sequence[np.ndarray], rounds: int = 10
) -> list[np.ndarray]:
    """Philox4x32 on arrays of 32-bit words (as uint64 arrays or ints); returns four uint64 arrays."""
    c = [np.asarray(x, np.uint64) & _MASK for x in counter]
    k0, k1 = (np.asarray(x, np.uint64) & _MASK for x in key)
    for _ in range(rounds):
        p0 = np.uint64(PHILOX_M0) * c[0]
        p1 = np.uint64(PHILOX_M1) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & _MASK, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & _MASK]
        k0 = (k0 + np.uint64(PHILOX_W0)) & _MASK
        k1 = (k1 + np.uint64(PHILOX_W1)) & _MASK
    return c


def stream_words(state: np.ndarray, count: int, sub: int = 0) -> list[np.ndarray]:
    """The four words of every element's block for a draw of `count` elements."""
    key, draws = (int(v) & 0xFFFFFFFFFFFFFFFF for v in np.asarray(state).reshape(2))
    index = np.arange(count, dtype=np.uint64)
    counter = [index & _MASK, index >> np.uint64(32), np.uint64(draws & 0xFFFFFFFF), np.uint64(sub)]
    return philox4x32(counter, [np.uint64(key & 0xFFFFFFFF), np.uint64(key >> 32)])


def unit_f64(w0: np.ndarray, w1: np.ndarray) -> np.ndarray:
    bits = (w0 >> np.uint64(5)) * np.uint64(1 << 26) + (w1 >> np.uint64(6))
    return bits.astype(np.float64) * 2.0**-53


def unit_f32(w0: np.ndarray) -> np.ndarray:
    return (w0 >> np.uint64(8)).astype(np.float32) * np.float32(2.0**-24)


def multiply_shift(w0: np.ndarray, w1: np.ndarray, span: int) -> np.ndarray:
    """floor(((w1 << 32) + w0) * span / 2^64) for span < 2^32, in 64-bit arithmetic."""
    span64 = np.uint64(span)
    low_part = (w0 * span64) >> np.uint64(32)
    return (w1 * span64 + low_part) >> np.uint64(32)


class RandomOp(Operation):
    """`%r = tx.random_<kind> %state, %a, %b[, %size] : ... -> tensor<2x?xf64>`.

    Operand 0 is the stream state, then `num_params` scalar parameters. The
    result type gives the dtype and the shape; where a dimension is `?`, a
    trailing int64 vector operand gives the run-time size (e.g. `tx.shape %x`).
    """

    traits = frozenset({FRESH})  # not PURE: two draws of one stream differ
    num_params = 2
    result_kinds: frozenset[str] = frozenset({"f"})
    arity = between(3, 4)  # the state, num_params parameters, the size if any

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        raise NotImplementedError("random ops take their shape from the result type")

    @property
    def params(self) -> list[Value]:
        return self.operands[1 : 1 + self.num_params]

    @property
    def size_operand(self) -> Value | None:
        return self.operands[1 + self.num_params] if len(self.operands) > 1 + self.num_params else None

    def verify_op(self) -> None:
        state = self.operands[0]
        if state.type.dtype is not DType.I64 or state.type.shape not in ((2,), (None,)):
            raise TcTypeError(f"{self.name} needs a tensor<2xi64> stream state, found {state.type}")
        if any(p.type.rank != 0 for p in self.params):
            raise TcTypeError(f"{self.name} takes {self.num_params} scalar parameter(s)")
        result = self.results[0].type
        if result.dtype.numpy.kind not in self.result_kinds:
            raise TcTypeError(f"{self.name} cannot produce {result}")
        size = self.size_operand
        if size is None and not result.is_static:
            raise TcTypeError(f"{self.name} producing {result} needs a size operand")
        if size is not None and size.type != TensorType(DType.I64, (result.rank,)):
            raise TcTypeError(f"{self.name}: the size must be a tensor<{result.rank}xi64>, found {size.type}")

    @property
    def count(self) -> int:
        """The number of elements, when the result type fixes it."""
        return int(np.prod([d or 0 for d in self.results[0].type.shape]))

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        state = operands[0]
        params = [np.asarray(p) for p in operands[1 : 1 + self.num_params]]
        result = self.results[0].type
        if self.size_operand is not None:
            shape = tuple(int(d) for d in operands[-1])
        else:
            shape = tuple(d or 0 for d in result.shape)
        flat = self.sample(state, params, int(np.prod(shape, dtype=np.int64)), result.dtype)
        return [flat.astype(result.dtype.numpy).reshape(shape)]

    def sample(self, state: np.ndarray, params: list[np.ndarray], count: int, dtype: DType) -> np.ndarray:
        raise NotImplementedError


class RandomUniform(RandomOp):
    name = "tx.random_uniform"

    def sample(self, state: np.ndarray, params: list[np.ndarray], count: int, dtype: DType) -> np.ndarray:
        w = stream_words(state, count)
        low, high = (p.astype(dtype.numpy) for p in params)
        u = unit_f64(w[0], w[1]) if dtype is DType.F64 else unit_f32(w[0])
        return low + (high - low) * u


class RandomNormal(RandomOp):
    name = "tx.random_normal"

    def sample(self, state: np.ndarray, params: list[np.ndarray], count: int, dtype: DType) -> np.ndarray:
        w = stream_words(state, (count + 1) // 2)
        radius = np.sqrt(-2.0 * np.log(unit_f64(w[0], w[1]) + 2.0**-53))
        angle = TWO_PI * unit_f64(w[2], w[3])
        z = np.empty(2 * radius.size)
        z[0::2], z[1::2] = radius * np.cos(angle), radius * np.sin(angle)
        avg, std = (p.astype(np.float64) for p in params)
        return (avg + std * z[:count]).astype(dtype.numpy)


class RandomIntegers(RandomOp):
    """Uniform integers in [low, high], both inclusive (Theano's random_integers)."""

    name = "tx.random_integers"
    result_kinds = frozenset({"i", "u"})

    def sample(self, state: np.ndarray, params: list[np.ndarray], count: int, dtype: DType) -> np.ndarray:
        w = stream_words(state, count)
        low, high = (int(p) for p in params)
        return low + multiply_shift(w[0], w[1], high - low + 1).astype(np.int64)


class RandomBinomial(RandomOp):
    """Successes in `trials` Bernoulli(p) draws; `trials` is an attribute (one block per trial)."""

    name = "tx.random_binomial"
    num_params = 1
    result_kinds = frozenset({"i", "u", "f", "b"})
    arity = between(2, 3)
    trials = attr(int)

    def sample(self, state: np.ndarray, params: list[np.ndarray], count: int, dtype: DType) -> np.ndarray:
        p = float(params[0])
        total = np.zeros(count, np.int64)
        for trial in range(self.trials):
            w = stream_words(state, count, sub=trial)
            total += unit_f64(w[0], w[1]) < p
        return total


class RandomPermutation(RandomOp):
    """The first k entries (k = the result's size, in row-major order) of a random
    permutation of 0..n-1 (int64)."""

    name = "tx.random_permutation"
    num_params = 0
    result_kinds = frozenset({"i"})
    arity = between(1, 2)
    population = attr(int)

    def verify_op(self) -> None:
        super().verify_op()
        if not 0 <= self.count <= self.population < 2**32:
            raise TcTypeError(f"{self.name}: cannot take {self.count} of {self.population} items")

    def sample(self, state: np.ndarray, params: list[np.ndarray], count: int, dtype: DType) -> np.ndarray:
        return _fisher_yates(state, self.population, count)


class RandomChoice(RandomOp):
    """`tx.random_choice %state, %values[, %weights] {replace, weighted}`: draws of the
    vector's entries; the result has the values' dtype and a static shape."""

    name = "tx.random_choice"
    num_params = 0
    result_kinds = frozenset({"b", "i", "u", "f"})
    arity = between(2, 3)  # the state, the values, the weights if weighted
    replace = attr(bool)
    weighted = attr(bool)

    @property
    def values(self) -> Value:
        return self.operands[1]

    @property
    def weights(self) -> Value | None:
        return self.operands[2] if self.weighted else None

    @property
    def size_operand(self) -> Value | None:
        return None

    def verify_op(self) -> None:
        super().verify_op()
        values, result = self.values.type, self.results[0].type
        if values.rank != 1 or values.dtype is not result.dtype or not result.is_static:
            raise TcTypeError(f"{self.name} draws a static shape from a vector of its dtype, found {values}")
        expected = 3 if self.weighted else 2
        if len(self.operands) != expected:
            raise TcTypeError(f"{self.name} takes {expected} operand(s), found {len(self.operands)}")
        weights = self.weights
        if weights is not None and (weights.type.rank != 1 or weights.type.dtype is not DType.F64):
            raise TcTypeError(f"{self.name}: the weights must be a float64 vector, found {weights.type}")
        if not self.replace and self.weighted:
            raise TcTypeError(f"{self.name}: weighted draws without replacement are not supported")

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        state, values = operands[0], np.asarray(operands[1])
        result = self.results[0].type
        count, population = self.count, values.shape[0]
        if not self.replace:
            indices = _fisher_yates(state, population, count)
        elif self.weighted:
            w = stream_words(state, count)
            cdf = np.cumsum(np.asarray(operands[2], dtype=np.float64))
            u = unit_f64(w[0], w[1]) * cdf[-1]
            indices = np.minimum(np.searchsorted(cdf, u, side="right"), population - 1)
        else:
            w = stream_words(state, count)
            indices = multiply_shift(w[0], w[1], population).astype(np.int64)
        return [values[indices].reshape(result.shape).astype(result.dtype.numpy)]


def _fisher_yates(state: np.ndarray, population: int, count: int) -> np.ndarray:
    items = np.arange(population, dtype=np.int64)
    w = stream_words(state, count)
    for i in range(count):
        j = i + int(multiply_shift(w[0][i], w[1][i], population - i))
        items[i], items[j] = items[j], items[i]
    return items[:count].copy()
