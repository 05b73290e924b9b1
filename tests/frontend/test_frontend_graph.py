"""The builder's objects: constructors, Variable attributes, operators, build-time errors."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import tc
import tc.ir as ir
from tc import tensor as T
from tc.frontend import config

SHAPES = {
    "scalar": (),
    "vector": (None,),
    "matrix": (None, None),
    "row": (1, None),
    "col": (None, 1),
    "tensor3": (None, None, None),
    "tensor4": (None, None, None, None),
}
PREFIXES = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32", "d": "float64"}


@pytest.mark.parametrize("kind", SHAPES)
def test_constructors_take_theano_shapes_and_floatx(kind: str) -> None:
    x = getattr(T, kind)("x")
    assert x.name == "x" and x.owner is None
    assert x.type.shape == SHAPES[kind]
    assert x.ndim == len(SHAPES[kind])
    assert x.broadcastable == tuple(d == 1 for d in SHAPES[kind])
    assert x.dtype == config.floatX == "float64"
    assert getattr(T, kind)(dtype="int32").dtype == "int32"


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("kind", SHAPES)
def test_prefixed_constructors(prefix: str, kind: str) -> None:
    x = getattr(T, prefix + kind)("v")
    assert (x.dtype, x.type.shape, x.name) == (PREFIXES[prefix], SHAPES[kind], "v")


def test_floatx_is_read_when_the_variable_is_built() -> None:
    old = config.floatX
    try:
        config.floatX = "float32"
        assert T.matrix().dtype == "float32"
    finally:
        config.floatX = old
    with pytest.raises(ValueError):
        config.floatX = "int8"


def test_tc_config_is_the_frontend_config() -> None:
    assert T.config is config
    if hasattr(tc, "config"):
        assert tc.config is config


def test_tensor_with_static_shapes_and_broadcastable_patterns() -> None:
    x = T.tensor("float32", shape=(None, 3), name="x")
    assert (x.dtype, x.type.shape, x.name) == ("float32", (None, 3), "x")
    assert T.tensor("int8", (False, True)).type.shape == (None, 1)
    assert T.tensor(None, ()).dtype == config.floatX
    with pytest.raises(ir.TcTypeError):
        T.tensor("float32", ("a",))
    with pytest.raises(ir.TcTypeError, match="unsupported dtype"):
        T.vector(dtype="complex64")


def test_all_lists_the_public_api() -> None:
    for name in T.__all__:
        assert hasattr(T, name), name
    expected = {
        "sin",
        "cos",
        "tan",
        "arcsin",
        "arccos",
        "arctan",
        "arctan2",
        "sinh",
        "cosh",
        "tanh",
        "exp",
        "exp2",
        "expm1",
        "log",
        "log2",
        "log10",
        "log1p",
        "sqrt",
        "sqr",
        "abs",
        "abs_",
        "sgn",
        "floor",
        "ceil",
        "round",
        "deg2rad",
        "rad2deg",
        "sigmoid",
        "softplus",
        "erf",
        "maximum",
        "minimum",
        "clip",
        "switch",
        "where",
        "cast",
        "neg",
        "add",
        "sub",
        "mul",
        "true_div",
        "int_div",
        "floor_div",
        "mod",
        "pow",
        "eq",
        "neq",
        "lt",
        "le",
        "gt",
        "ge",
        "and_",
        "or_",
        "xor",
        "invert",
        "constant",
        "as_tensor_variable",
        "tensor",
        "nnet",
    }
    assert expected <= set(T.__all__)
    assert T.nnet.sigmoid is T.sigmoid and T.nnet.softplus is T.softplus


def test_equality_operators_keep_identity_semantics() -> None:
    x, y = T.vector("x"), T.vector("y")
    assert (x == x) is True
    assert (x == y) is False
    assert (x != y) is True
    assert len({x, y, x}) == 2
    assert {x: 1}[x] == 1
    assert T.eq(x, y).dtype == "bool" and T.neq(x, y).dtype == "bool"


def test_truth_value_is_an_error() -> None:
    x = T.vector()
    with pytest.raises(TypeError, match="T.switch"):
        if x > 0:
            pass


@pytest.mark.parametrize(
    "build, op_name",
    [
        (lambda x, y: x + y, "tx.add"),
        (lambda x, y: x - y, "tx.sub"),
        (lambda x, y: x * y, "tx.mul"),
        (lambda x, y: x / y, "tx.div"),
        (lambda x, y: x // y, "tx.floordiv"),
        (lambda x, y: x % y, "tx.mod"),
        (lambda x, y: x**y, "tx.pow"),
        (lambda x, y: x < y, "tx.lt"),
        (lambda x, y: x <= y, "tx.le"),
        (lambda x, y: x > y, "tx.gt"),
        (lambda x, y: x >= y, "tx.ge"),
        (lambda x, y: x & y, "tx.and"),
        (lambda x, y: x | y, "tx.or"),
        (lambda x, y: x ^ y, "tx.xor"),
        (lambda x, y: -x, "tx.neg"),
        (lambda x, y: abs(x), "tx.abs"),
        (lambda x, y: ~x, "tx.invert"),
    ],
)
def test_python_operators_build_the_ir_op(build, op_name: str) -> None:  # type: ignore[no-untyped-def]
    x, y = T.ivector("x"), T.ivector("y")
    z = build(x, y)
    assert z.owner is not None and z.owner.op_class.name == op_name


def test_reflected_operators_put_the_scalar_first() -> None:
    x = T.vector("x")
    for z in (1 - x, 2 / x, 2**x, 3 // x, 3 % x, 1 + x, 2 * x):
        assert z.owner is not None
        first, second = z.owner.inputs
        assert isinstance(first, T.Constant) and second is x
    z = np.arange(3.0) + x  # numpy defers to __radd__
    assert isinstance(z, T.Variable) and z.type.shape == (3,)
    assert +x is x


def test_unsupported_operands_give_python_type_errors() -> None:
    with pytest.raises(TypeError):
        T.vector() + "a"  # type: ignore[operator]
    with pytest.raises(ir.TcTypeError):
        T.sin("a")  # type: ignore[arg-type]


def test_astype_and_cast() -> None:
    x = T.vector("x")
    assert x.astype("int32").dtype == "int32"
    assert T.cast(x, "float64") is x
    assert T.cast(x, "floatX") is x
    assert T.cast(1.5, "int8").dtype == "int8"
    assert T.cast(x, np.float32).dtype == "float32"


def test_constants() -> None:
    c = T.constant([1, 2, 3], name="c")
    assert (c.dtype, c.type.shape, c.name) == ("int64", (3,), "c")
    assert T.constant(2, dtype="int8").dtype == "int8"
    assert T.constant(True).dtype == "bool"
    assert not c.data.flags.writeable
    assert T.as_tensor_variable(c) is c
    assert str(T.constant(2.0)) == "tx.constant{2.0}"
    with pytest.raises(ir.TcTypeError):
        T.as_tensor_variable(T.vector(), ndim=2)
    with pytest.raises(ir.TcValueError):
        T.constant(2**70)
    with pytest.raises(ir.TcValueError):
        T.constant(300, dtype="int8")
    with pytest.raises(ir.TcTypeError):
        T.constant("abc")
    with pytest.raises(ir.TcTypeError):
        T.as_tensor_variable(None)  # type: ignore[arg-type]


def test_variables_know_the_user_line_that_built_them() -> None:
    line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
    x = T.vector("x")
    y = T.sin(x) + 1
    for v, expected in ((x, line), (y, line + 1)):
        assert v.location is not None
        assert v.location.file == __file__ and v.location.line == expected


def test_shape_mismatch_is_a_build_time_error_naming_op_and_line() -> None:
    a, b = T.tensor("float64", (3,)), T.tensor("float64", (4,))
    with pytest.raises(ir.TcShapeError, match=r"tx\.add.*\(3,\) and \(4,\)") as info:
        a + b
    assert "test_frontend_graph.py" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_dtype_error_from_the_ir_names_the_op() -> None:
    with pytest.raises(ir.TcTypeError, match="tx.and") as info:
        T.vector() & T.vector()
    assert isinstance(info.value, TypeError)


def test_str_follows_theano() -> None:
    x = T.vector("x")
    assert str(x) == "x"
    assert str(x + 1) == "tx.add.0"
    assert str(T.vector()) == "<tensor<?xf64>>"
