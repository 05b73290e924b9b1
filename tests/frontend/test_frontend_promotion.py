"""Dtype promotion: numpy 2 (NEP 50) with weak Python scalars, plus Theano's float upgrade."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tc.ir as ir
from tc import tensor as T
from tc.frontend import build_function_ir, config

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64"]


def vec(dtype: str) -> T.Variable:
    return T.tensor(dtype, (None,))


@pytest.mark.parametrize("a, b", list(itertools.product(DTYPES, DTYPES)))
def test_tensor_tensor_follows_numpy_result_type(a: str, b: str) -> None:
    assert (vec(a) * vec(b)).dtype == np.result_type(a, b).name


@pytest.mark.parametrize(
    "tensor_dtype, scalar, expected",
    [
        ("int8", 1, "int8"),
        ("uint8", 200, "uint8"),
        ("int16", True, "int16"),
        ("float32", 1.0, "float32"),
        ("float32", 1, "float32"),
        ("float32", 1e300, "float32"),  # becomes inf, as numpy
        ("int8", 1.5, "float64"),  # numpy: int + Python float -> the default float
        ("int64", 1.5, "float64"),
        ("bool", 1, "int64"),
        ("bool", True, "bool"),
        ("bool", 1.5, "float64"),
    ],
)
def test_python_scalars_are_weak(tensor_dtype: str, scalar: object, expected: str) -> None:
    assert (vec(tensor_dtype) + scalar).dtype == expected
    assert (scalar + vec(tensor_dtype)).dtype == expected
    assert np.result_type(np.dtype(tensor_dtype), scalar).name == expected  # the rule is numpy's


@pytest.mark.parametrize(
    "other, expected",
    [(np.float64(2.0), "float64"), (np.array(2.0), "float64"), (np.int8(2), "float32")],
)
def test_numpy_scalars_and_arrays_are_strong(other: object, expected: str) -> None:
    assert (T.fvector() * other).dtype == expected
    assert (other * T.fvector()).dtype == expected


@pytest.mark.parametrize(
    "dtype, expected",
    [
        ("bool", "float32"),
        ("int8", "float32"),
        ("uint8", "float32"),
        ("int16", "float32"),
        ("int32", "float64"),
        ("int64", "float64"),
        ("float32", "float32"),
        ("float64", "float64"),
    ],
)
def test_float_only_ops_upgrade_like_theano(dtype: str, expected: str) -> None:
    x = vec(dtype)
    assert T.sin(x).dtype == expected
    assert T.sigmoid(x).dtype == expected
    assert (x / x).dtype == expected
    assert T.arctan2(x, x).dtype == expected


def test_float_upgrade_applies_after_numpy_promotion() -> None:
    assert (T.bvector() / 2).dtype == "float32"
    assert (T.bvector() / 2.0).dtype == "float64"  # int8 + weak float is float64 first
    assert (T.bvector() / T.ivector()).dtype == "float64"
    assert T.sin(2).dtype == "float64"  # int64 constant


def test_python_scalars_alone_take_default_dtypes() -> None:
    assert T.add(1, 2).dtype == "int64"
    assert T.add(True, False).dtype == "bool"
    assert T.add(1, 2.5).dtype == "float64"
    old = config.floatX
    try:
        config.floatX = "float32"
        assert T.add(1, 2.5).dtype == "float32"
        assert T.constant(1.5).dtype == "float32"
        assert T.constant(np.float64(1.5)).dtype == "float64"  # numpy data keeps its dtype
    finally:
        config.floatX = old


def test_variadic_add_promotes_all_terms_together() -> None:
    assert T.add(1, 2, T.fvector()).dtype == "float32"
    assert T.mul(T.bvector(), 2, 3).dtype == "int8"


def test_bool_rules_follow_numpy() -> None:
    b = vec("bool")
    assert (b + b).dtype == "bool"
    assert (b * b).dtype == "bool"
    assert (b // b).dtype == "int8"
    assert (b % b).dtype == "int8"
    assert (b**b).dtype == "int8"
    assert T.sqr(b).dtype == "int8"
    assert abs(b) is b and T.floor(b) is b and T.ceil(b) is b and T.round(b) is b
    assert (~b).dtype == "bool" and (b & b).dtype == "bool"
    with pytest.raises(ir.TcTypeError, match="tx.sub"):
        b - b
    with pytest.raises(TypeError, match="tx.neg"):
        _ = -b
    with pytest.raises(ir.TcTypeError, match="tx.sign"):
        T.sgn(b)


def test_out_of_range_python_int_is_an_error_as_in_numpy() -> None:
    with pytest.raises(ir.TcValueError, match="300 is out of bounds for int8"):
        T.bvector() + 300
    with pytest.raises(ValueError, match="-1 is out of bounds for uint8"):
        T.tensor("uint8", (None,)) * -1


def test_comparison_with_out_of_range_int_widens() -> None:
    x = T.bvector("x")
    y = x < 300
    assert y.dtype == "bool"
    u = T.tensor("uint8", (None,), name="u")
    module = build_function_ir("f", [x, u], [y, u > -1, x > -129])
    out = ir.run(module, "f", np.array([1, -5, 127], np.int8), np.array([0, 255], np.uint8))
    assert [o.tolist() for o in out] == [[True] * 3, [True] * 2, [True] * 3]


def test_casts_are_inserted_where_promotion_demands() -> None:
    x, y = T.bvector("x"), T.fvector("y")
    z = x + y
    assert z.owner is not None
    cast = z.owner.inputs[0]
    assert cast.owner is not None and cast.owner.op_class.name == "tx.cast"
    assert cast.dtype == "float32" and cast.owner.inputs == [x]
    text = build_function_ir("f", [x, y], [z]).functions[0]
    assert "tx.cast %x : tensor<?xi8> -> tensor<?xf32>" in ir.print_function(text)


def test_weak_scalar_becomes_constant_of_the_promoted_dtype() -> None:
    z = T.fvector() + 1
    assert z.owner is not None
    const = z.owner.inputs[1]
    assert isinstance(const, T.Constant)
    assert const.dtype == "float32" and const.data.shape == ()


def test_switch_promotes_branches_and_makes_condition_bool() -> None:
    c = T.ivector("c")
    s = T.switch(c, 1, T.fvector("f"))
    assert s.dtype == "float32"
    assert s.owner is not None
    cond = s.owner.inputs[0]
    assert cond.dtype == "bool" and cond.owner is not None
    assert cond.owner.op_class.name == "tx.ne"
    assert T.where(c > 0, 1, 2.5).dtype == "float64"
