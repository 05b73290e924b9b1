"""Philox4x32-10 and the random streams built on it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import tc
from tc.codegen_llvm.parallel import GRAIN
from tc.ir.ops.random import philox4x32
from tc.random import RandomStreams

# Random123's known-answer vectors for philox4x32_10.
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("counter,key,expected", KNOWN_ANSWERS)
def test_reference_known_answers(counter, key, expected) -> None:  # type: ignore[no-untyped-def]
    assert tuple(int(w) for w in philox4x32(counter, key)) == expected


@pytest.mark.parametrize("counter,key,expected", KNOWN_ANSWERS)
def test_native_known_answers(counter, key, expected) -> None:  # type: ignore[no-untyped-def]
    """The generated code's Philox block, called directly on a counter and key."""
    import ctypes

    import llvmlite.binding as llvm

    from tc.codegen_llvm import llvm_ir as ll
    from tc.codegen_llvm.jit import mcjit_target_machine
    from tc.codegen_llvm.random import philox_block
    from tc.codegen_llvm.types import I64

    module = ll.Module()
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [I64, I64, I64, I64.as_pointer()]), "block")
    index, key_arg, draws, out = fn.args
    b = ll.IRBuilder(fn.append_basic_block())
    # philox_block builds the counter (lo32(i), hi32(i), lo32(draws), sub); pick values that give `counter`.
    words = philox_block(b, index, key_arg, draws, counter[3])
    for k, w in enumerate(words):
        b.store(b.zext(w, I64), b.gep(out, [I64(k)]))
    b.ret_void()
    tm = mcjit_target_machine()
    parsed = llvm.parse_assembly(str(module))
    engine = llvm.create_mcjit_compiler(parsed, tm)
    engine.finalize_object()
    call = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)(
        engine.get_function_address("block")
    )
    result = (ctypes.c_int64 * 4)()
    to_signed = lambda v: v - (1 << 64) if v >= 1 << 63 else v  # noqa: E731
    call(
        to_signed(counter[0] | (counter[1] << 32)),
        to_signed(key[0] | (key[1] << 32)),
        counter[2],
        ctypes.addressof(result),
    )
    assert tuple(v & 0xFFFFFFFF for v in result) == expected


def _reference(variable, state: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    op_class = variable.owner.op_class
    params = [np.asarray(p.data) for p in variable.owner.inputs[1:]]
    op = op_class.__new__(op_class)
    op.attributes = dict(variable.owner.attributes)
    return op.sample(state, params, int(np.prod(variable.type.shape)), variable.type.dtype).reshape(
        variable.type.shape
    )


@pytest.mark.parametrize("kind", ["uniform64", "uniform32", "integers", "binomial", "permutation", "choice"])
def test_native_draws_equal_the_reference_bit_for_bit(kind: str) -> None:
    srng = RandomStreams(seed=42)
    size = (3, GRAIN // 3 + 7)  # large enough to run on several threads
    variable = {
        "uniform64": lambda: srng.uniform(size, -2.0, 3.0, dtype="float64"),
        "uniform32": lambda: srng.uniform(size, 0.5, 1.5, dtype="float32"),
        "integers": lambda: srng.random_integers(size, -5, 1000),
        "binomial": lambda: srng.binomial(size, n=5, p=0.3),
        "permutation": lambda: srng.permutation(1000),
        "choice": lambda: srng.choice((3, 7), 50, replace=False),
    }[kind]()
    state = variable.owner.inputs[0]
    f = tc.function([], variable)
    for _ in range(2):
        before = state.get_value()
        got = f()
        assert got.tobytes() == _reference(variable, before).astype(got.dtype).tobytes()
        assert state.get_value()[1] == before[1] + 1


def test_normal_draws_match_the_reference() -> None:
    srng = RandomStreams(seed=3)
    variable = srng.normal((1000,), avg=1.0, std=2.0)
    state = variable.owner.inputs[0].get_value()
    got = tc.function([], variable)()
    np.testing.assert_allclose(got, _reference(variable, state), rtol=1e-13, atol=1e-13)


def test_seed_third_example() -> None:
    from tc.tensor.shared_randomstreams import RandomStreams as TheanoPath

    srng = TheanoPath(seed=234)
    rv_u = srng.uniform((2, 2))
    rv_n = srng.normal((2, 2))
    f = tc.function([], rv_u)
    g = tc.function([], rv_n, no_default_updates=True)
    nearly_zeros = tc.function([], rv_u + rv_u - 2 * rv_u)
    first, second = f(), f()
    assert first.shape == (2, 2) and not np.array_equal(first, second)
    assert np.all((0 <= first) & (first < 1))
    g1, g2 = g(), g()
    assert np.array_equal(g1, g2)
    assert np.allclose(nearly_zeros(), 0)
    srng.seed(7777)
    g3, g4 = g(), g()
    assert not np.array_equal(g1, g3) and np.array_equal(g3, g4)


def test_functions_sharing_a_random_variable_share_its_stream() -> None:
    srng = RandomStreams(seed=1)
    rv = srng.uniform((4,))
    f, h = tc.function([], rv), tc.function([], rv * 1.0)
    a, b, c = f(), h(), f()
    assert len({a.tobytes(), b.tobytes(), c.tobytes()}) == 3
    srng.seed(1)
    assert np.array_equal(f(), a)


def test_same_seed_same_numbers_in_a_new_process() -> None:
    code = (
        "import tc; from tc.random import RandomStreams as R; s = R(99); "
        "f = tc.function([], [s.uniform((5,)), s.normal((3,)), s.random_integers((4,), 0, 9)]); "
        "f(); print(repr([x.tolist() for x in f()]))"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    ]
    srng = RandomStreams(99)
    f = tc.function([], [srng.uniform((5,)), srng.normal((3,)), srng.random_integers((4,), 0, 9)])
    f()
    assert runs[0] == runs[1] == repr([x.tolist() for x in f()]) + "\n"


def test_results_do_not_depend_on_thread_count() -> None:
    srng = RandomStreams(seed=5)
    rv = srng.normal((8 * GRAIN,))
    f = tc.function([], rv, no_default_updates=True)
    native = f._code_owner
    try:
        native.set_num_threads(1)
        one = f()
        native.set_num_threads(3)
        three = f()
    finally:
        native.set_num_threads(2)
    assert one.tobytes() == three.tobytes()


def _ks_statistic(sample: np.ndarray, cdf) -> float:  # type: ignore[no-untyped-def]
    x = np.sort(sample)
    n = x.size
    c = cdf(x)
    return float(max(np.max(np.arange(1, n + 1) / n - c), np.max(c - np.arange(n) / n)))


def test_uniform_and_normal_statistics() -> None:
    import math

    srng = RandomStreams(seed=2024)
    n = 10**6
    u, z = tc.function([], [srng.uniform((n,)), srng.normal((n,))])()
    # With 10^6 samples the standard errors are ~3e-4 (mean) and the KS 1% critical value ~1.6e-3;
    # the seed is fixed, so these are exact checks of one draw, not flaky ones.
    assert abs(u.mean() - 0.5) < 2e-3 and abs(u.var() - 1 / 12) < 2e-3
    assert abs(z.mean()) < 5e-3 and abs(z.var() - 1) < 5e-3
    assert _ks_statistic(u, lambda x: x) < 1.63e-3
    erf = np.frompyfunc(math.erf, 1, 1)
    assert _ks_statistic(z, lambda x: 0.5 * (1 + erf(x / math.sqrt(2)).astype(float))) < 1.63e-3


def test_binomial_and_integer_frequencies() -> None:
    srng = RandomStreams(seed=11)
    n = 200_000
    b, i = tc.function([], [srng.binomial((n,), n=4, p=0.25), srng.random_integers((n,), 1, 6)])()
    from math import comb

    expected_b = np.array([comb(4, k) * 0.25**k * 0.75 ** (4 - k) for k in range(5)]) * n
    observed_b = np.bincount(b, minlength=5)
    assert ((observed_b - expected_b) ** 2 / expected_b).sum() < 20.5  # chi2(4) at p = 0.9996
    observed_i = np.bincount(i, minlength=7)[1:]
    assert observed_i.sum() == n and i.min() == 1 and i.max() == 6
    assert ((observed_i - n / 6) ** 2 / (n / 6)).sum() < 23.0  # chi2(5) at p = 0.9997


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda s: s.uniform((-1, 2)), "non-negative"),
        (lambda s: s.uniform((2.5,)), "non-negative integers"),
        (lambda s: s.uniform((2,), low=3.0, high=1.0), "low .* greater than high"),
        (lambda s: s.binomial((2,), p=1.5), "p must be in"),
        (lambda s: s.uniform((2,), dtype="int32"), "float dtype"),
        (lambda s: s.random_integers((2,), 5, 1), "greater than high"),
        (lambda s: s.normal((2,), std=-1.0), "std must be non-negative"),
    ],
)
def test_bad_arguments_fail_when_the_graph_is_built(make, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tc.TcError, match=message):
        make(RandomStreams(1))


def test_seed_must_be_an_integer() -> None:
    with pytest.raises(tc.TcTypeError, match="seed must be an integer"):
        RandomStreams("abc")  # type: ignore[arg-type]
    with pytest.raises(tc.TcTypeError, match="seed must be an integer"):
        RandomStreams(1).seed(1.5)  # type: ignore[arg-type]


def test_permutation_and_choice() -> None:
    srng = RandomStreams(seed=8)
    perm, unique, repeated = tc.function(
        [], [srng.permutation(50), srng.choice((4, 5), 30, replace=False), srng.choice((1000,), 3)]
    )()
    assert sorted(perm.tolist()) == list(range(50)) and perm.tolist() != list(range(50))
    assert unique.shape == (4, 5) and len(set(unique.ravel().tolist())) == 20 and unique.max() < 30
    assert set(repeated.tolist()) == {0, 1, 2}
    with pytest.raises(tc.TcValueError, match="cannot take 6 of 5"):
        srng.choice((6,), 5, replace=False)
    with pytest.raises(tc.TcError, match="population"):
        srng.permutation(-1)


@pytest.mark.parametrize("kind", ["uniform", "normal", "binomial"])
def test_symbolic_sizes_draw_what_the_static_size_draws(kind: str) -> None:
    x = tc.tensor.dmatrix("x")
    draw = {
        "uniform": lambda s, size: s.uniform(size),
        "normal": lambda s, size: s.normal(size),
        "binomial": lambda s, size: s.binomial(size, n=3, p=0.4),
    }[kind]
    symbolic = tc.function([x], draw(RandomStreams(7), x.shape))
    static = tc.function([], draw(RandomStreams(7), (3, 5)))
    first = symbolic(np.zeros((3, 5)))
    assert first.shape == (3, 5) and first.tobytes() == static().tobytes()
    assert symbolic(np.zeros((4, 1))).shape == (4, 1)  # the stream moved on; the size follows x
    assert symbolic(np.zeros((0, 2))).shape == (0, 2)


def test_dropout_mask_with_the_inputs_shape() -> None:
    srng = RandomStreams(seed=12)
    x = tc.tensor.dmatrix("x")
    f = tc.function([x], x * srng.binomial(x.shape, p=0.5, dtype="float64"))
    out = f(np.full((200, 300), 2.0))
    assert set(np.unique(out).tolist()) == {0.0, 2.0} and abs((out == 2.0).mean() - 0.5) < 0.01


def test_size_of_symbolic_lengths_and_integers() -> None:
    n = tc.tensor.lscalar("n")
    f = tc.function([n], RandomStreams(1).uniform((n, 3)))
    assert f(4).shape == (4, 3)
    assert f(0).shape == (0, 3)


def test_bad_symbolic_sizes() -> None:
    srng = RandomStreams(1)
    with pytest.raises(tc.TcTypeError, match="integer vector of known length"):
        srng.uniform(tc.tensor.dvector("v"))
    with pytest.raises(tc.TcTypeError, match="each entry of a size must be an integer scalar"):
        srng.uniform((tc.tensor.dscalar("n"), 3))
    x = tc.tensor.dmatrix("x")
    with pytest.raises(tc.TcCompilationError, match="size must be a shape"):
        tc.function([x], srng.uniform(x.shape * 2))


def _interpreted(outputs):  # type: ignore[no-untyped-def]
    """What the interpreter computes for `outputs` from the streams' current states."""
    from tc.frontend.lower import build_function
    from tc.ir import run

    built = build_function("f", [], outputs)
    state = {symbol: variable.get_value() for symbol, variable in built.shared.items()}
    return run(built.module, "f", state=state)


def test_choice_from_arrays_matches_the_reference_bit_for_bit() -> None:
    srng = RandomStreams(seed=21)
    values = np.array([1.5, -2.0, 7.25, 0.0, 3.0])
    draws = [
        srng.choice((3, 4), values),
        srng.choice((50,), values, p=[0.1, 0.0, 0.6, 0.25, 0.05]),
        srng.choice((4,), values, replace=False),
        srng.choice((7,), np.array([3, 1, 4], np.int32), p=np.array([1.0, 1.0, 2.0])),
    ]
    f = tc.function([], draws)
    for _ in range(2):
        want = _interpreted(draws)
        got = f()
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype and g.tobytes() == w.tobytes()
    assert set(np.unique(got[1]).tolist()) <= {1.5, 7.25, 0.0, 3.0}  # p = 0 is never drawn
    assert len(set(got[2].tolist())) == 4


def test_weighted_choice_frequencies() -> None:
    p = np.array([0.5, 0.25, 0.125, 0.125])
    n = 200_000
    draws = tc.function([], RandomStreams(seed=3).choice((n,), 4, p=p))()
    observed = np.bincount(draws, minlength=4)
    expected = p * n
    assert ((observed - expected) ** 2 / expected).sum() < 21.1  # chi2(3) at p = 0.9999


def test_bad_choices() -> None:
    srng = RandomStreams(1)
    with pytest.raises(tc.TcValueError, match="non-negative with a positive sum"):
        srng.choice((2,), 3, p=[0.5, -0.5, 1.0])
    with pytest.raises(tc.TcValueError, match="without replacement are not supported"):
        srng.choice((2,), 3, replace=False, p=[0.2, 0.3, 0.5])
    with pytest.raises(tc.TcTypeError, match="integer or a vector"):
        srng.choice((2,), np.zeros((2, 2)))


def test_choice_from_runtime_vectors_is_checked_before_drawing() -> None:
    srng = RandomStreams(2)
    v, w = tc.tensor.dvector("v"), tc.tensor.dvector("w")
    f = tc.function([v], srng.choice((3,), v))
    state = srng.state_updates[-1][0].get_value()
    with pytest.raises(tc.TcShapeError, match="needs at least 1 values to choose from, found 0"):
        f(np.zeros(0))
    assert srng.state_updates[-1][0].get_value().tolist() == state.tolist()  # nothing was drawn
    with pytest.raises(tc.TcShapeError, match="'v' has size 2 .* 'w' has size 3"):
        tc.function([v, w], srng.choice((3,), v, p=w))([1.0, 2.0], [1.0, 2.0, 3.0])
    without = tc.function([v], srng.choice((3,), v, replace=False))
    with pytest.raises(tc.TcShapeError, match="needs at least 3 values"):
        without([1.0, 2.0])
    assert sorted(without([5.0, 6.0, 7.0]).tolist()) == [5.0, 6.0, 7.0]
