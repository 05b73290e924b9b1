"""Every elementwise op, for every dtype it accepts, compiled to native code agrees
with the interpreter (the ops' numpy reference) on random inputs with nan, inf,
signed zeros, extreme integers and empty arrays, in three layouts: same shape,
broadcast against a row, and against a scalar; contiguous or not."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tc.compile import compile_ir_module
from tc.ir import OP_REGISTRY, Block, DType, Function, Module, TensorType, run_function
from tc.ir.ops.builtin import Return
from tc.ir.ops.elementwise import Cast, ElementwiseOp, Select

ELEMENTWISE = sorted(
    (cls for cls in OP_REGISTRY.values() if issubclass(cls, ElementwiseOp) and cls not in (Cast, Select)),
    key=lambda c: c.name,
)
CASES = [(cls, dtype) for cls in ELEMENTWISE for dtype in sorted(cls.accepts, key=lambda d: d.value)]

# (operand shapes as types) for each layout
LAYOUTS = {
    "same": lambda n: [(None,)] * n,
    "row": lambda n: [(None, None)] + [(1, None)] * (n - 1),
    "scalar": lambda n: [(None,)] + [()] * (n - 1),
}


def _function(name: str, op_class: type, dtype: DType, shapes: list[tuple]) -> Function:
    block = Block([TensorType(dtype, s) for s in shapes], [f"a{i}" for i in range(len(shapes))])
    op = block.append(op_class.create(block.args))
    block.append(Return([op.result], []))
    return Function(name, block)


@cache
def _compiled(op_class: type, dtype: DType):  # type: ignore[no-untyped-def]
    module = Module([_function(k, op_class, dtype, f(op_class.arity)) for k, f in LAYOUTS.items()])
    reference = {k: _function(k, op_class, dtype, f(op_class.arity)) for k, f in LAYOUTS.items()}
    return compile_ir_module(module), reference


def _elements(dtype: DType) -> st.SearchStrategy:
    np_dtype = dtype.numpy
    if dtype.is_float:
        return hnp.from_dtype(
            np_dtype, allow_nan=True, allow_infinity=True, allow_subnormal=True
        ) | st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1e-8, 100.0, -100.0, 30.0]).map(
            np_dtype.type
        )
    if dtype.is_bool:
        return st.booleans()
    info = np.iinfo(np_dtype)
    return st.integers(int(info.min), int(info.max)) | st.sampled_from(
        [v for v in (0, 1, -1, 2, -2, 3, 7, int(info.min), int(info.max)) if info.min <= v <= info.max]
    )


def assert_same(got: np.ndarray, want: np.ndarray, dtype: DType, what: str) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, what
    if got.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    # libm and numpy may differ in the last bits of transcendental functions.
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
    finite = np.isfinite(want) & np.isfinite(got)
    np.testing.assert_array_equal(
        got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)], err_msg=what
    )
    eps = np.finfo(got.dtype).eps
    np.testing.assert_allclose(
        got[finite], want[finite], rtol=8 * eps, atol=np.finfo(got.dtype).tiny * 4, err_msg=what
    )


@pytest.mark.parametrize("op_class,dtype", CASES, ids=[f"{c.name}-{d.value}" for c, d in CASES])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_native_matches_reference(op_class: type, dtype: DType, data: st.DataObject) -> None:
    compiled, reference = _compiled(op_class, dtype)
    layout = data.draw(st.sampled_from(sorted(LAYOUTS)))
    rows = data.draw(st.integers(0, 3))
    cols = data.draw(st.integers(0, 6))
    args = []
    for shape_type in LAYOUTS[layout](op_class.arity):
        shape = tuple(
            1 if d == 1 else (rows if i == 0 and len(shape_type) == 2 else cols)
            for i, d in enumerate(shape_type)
        )
        array = data.draw(hnp.arrays(dtype.numpy, shape, elements=_elements(dtype)))
        if data.draw(st.booleans()) and array.ndim:
            array = np.repeat(array, 2, axis=-1)[..., ::2]  # same values, non-contiguous
        args.append(array)
    want = run_function(reference[layout], *args)[0]
    got = compiled[layout](*args)
    assert_same(got, want, dtype, f"{op_class.name} {dtype} {layout} {[a.tolist() for a in args]}")


CAST_DTYPES = list(DType)


@pytest.mark.parametrize("source", CAST_DTYPES, ids=[d.value for d in CAST_DTYPES])
def test_casts_match_reference(source: DType) -> None:
    functions, references = [], []
    for target in CAST_DTYPES:
        block = Block([TensorType(source, (None,))], ["x"])
        cast = block.append(Cast.to(block.args[0], target))
        block.append(Return([cast.result], []))
        functions.append(Function(f"to_{target.value}", block))
    references = [Function(f.name, f.body) for f in functions]
    import copy

    compiled = compile_ir_module(Module(copy.deepcopy(functions)))
    rng = np.random.default_rng(0)
    if source.is_float:
        x = np.concatenate(
            [
                rng.normal(0, 1e3, 50),
                [np.nan, np.inf, -np.inf, -0.0, 0.5, -0.5, 1e30, -1e30, 2**63, -(2**63), 255.9, -128.5],
            ]
        ).astype(source.numpy)
    elif source.is_bool:
        x = np.array([True, False, True])
    else:
        info = np.iinfo(source.numpy)
        x = np.array([info.min, info.max, 0, 1, -1 if info.min < 0 else 2, 100], dtype=source.numpy)
    for ref in references:
        want = run_function(ref, x)[0]
        got = compiled[ref.name](x)
        np.testing.assert_array_equal(got, want, err_msg=f"{source} -> {ref.name}")


def test_select_matches_reference() -> None:
    block = Block(
        [TensorType(DType.BOOL, (None,)), TensorType(DType.F64, (None,)), TensorType(DType.F64, ())]
    )
    op = block.append(Select.create(block.args))
    block.append(Return([op.result], []))
    import copy

    fn = Function("sel", block)
    compiled = compile_ir_module(Module([copy.deepcopy(fn)]))["sel"]
    c = np.array([True, False, True, False])
    a = np.array([1.0, 2.0, np.nan, -0.0])
    np.testing.assert_array_equal(compiled(c, a, 7.0), run_function(fn, c, a, np.float64(7.0))[0])
