"""The ops the fuzzer draws from: each tc builder with its numpy reference.

Every function of the README's elementwise list is here, plus the operators;
`graphs.Generator` picks from these tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy_reference as ref

from tc import tensor as T

UNARY_FLOAT: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "sin": (T.sin, np.sin),
    "cos": (T.cos, np.cos),
    "tan": (T.tan, np.tan),
    "arcsin": (T.arcsin, np.arcsin),
    "arccos": (T.arccos, np.arccos),
    "arctan": (T.arctan, np.arctan),
    "sinh": (T.sinh, np.sinh),
    "cosh": (T.cosh, np.cosh),
    "tanh": (T.tanh, np.tanh),
    "exp": (T.exp, np.exp),
    "exp2": (T.exp2, np.exp2),
    "expm1": (T.expm1, np.expm1),
    "log": (T.log, np.log),
    "log2": (T.log2, np.log2),
    "log10": (T.log10, np.log10),
    "log1p": (T.log1p, np.log1p),
    "sqrt": (T.sqrt, np.sqrt),
    "deg2rad": (T.deg2rad, np.deg2rad),
    "rad2deg": (T.rad2deg, np.rad2deg),
    "sigmoid": (T.sigmoid, ref.sigmoid),
    "softplus": (T.softplus, ref.softplus),
    "erf": (T.erf, ref.erf),
    "nnet.sigmoid": (T.nnet.sigmoid, ref.sigmoid),
    "nnet.softplus": (T.nnet.softplus, ref.softplus),
}
# name -> (tc, numpy, accepts bool)
UNARY_ANY: dict[str, tuple[Callable[..., Any], Callable[..., Any], bool]] = {
    "neg": (lambda x: -x, np.negative, False),
    "abs": (abs, np.abs, True),
    "sgn": (T.sgn, np.sign, False),
    "sqr": (T.sqr, np.square, True),
    "floor": (T.floor, np.floor, True),
    "ceil": (T.ceil, np.ceil, True),
    "round": (T.round, np.round, True),
    "round_half_away": (lambda x: T.round(x, "half_away_from_zero"), ref.round_half_away, True),
    "nnet.relu": (T.nnet.relu, ref.relu, False),
}
UNARY_LINES = {"neg": "-{0}", "abs": "abs({0})", "round_half_away": "T.round({0}, 'half_away_from_zero')"}
# name -> (tc, numpy, float only)
BINARY_ARITH: dict[str, tuple[Callable[..., Any], Callable[..., Any], bool]] = {
    "add": (lambda a, b: a + b, np.add, False),
    "sub": (lambda a, b: a - b, np.subtract, False),
    "mul": (lambda a, b: a * b, np.multiply, False),
    "true_div": (lambda a, b: a / b, np.true_divide, True),
    "floor_div": (lambda a, b: a // b, np.floor_divide, False),
    "mod": (lambda a, b: a % b, np.mod, False),
    "pow": (lambda a, b: a**b, ref.power, False),
    "maximum": (T.maximum, np.maximum, False),
    "minimum": (T.minimum, np.minimum, False),
    "arctan2": (T.arctan2, np.arctan2, True),
}
BINARY_LINES = {
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * {1}",
    "true_div": "{0} / {1}",
    "floor_div": "{0} // {1}",
    "mod": "{0} % {1}",
    "pow": "{0} ** {1}",
    "and": "{0} & {1}",
    "or": "{0} | {1}",
    "xor": "{0} ^ {1}",
    "lt": "{0} < {1}",
    "le": "{0} <= {1}",
    "gt": "{0} > {1}",
    "ge": "{0} >= {1}",
}
BINARY_LOGIC = {
    "and": (lambda a, b: a & b, np.bitwise_and),
    "or": (lambda a, b: a | b, np.bitwise_or),
    "xor": (lambda a, b: a ^ b, np.bitwise_xor),
}
COMPARISONS = {
    "eq": (T.eq, np.equal),
    "neq": (T.neq, np.not_equal),
    "lt": (lambda a, b: a < b, np.less),
    "le": (lambda a, b: a <= b, np.less_equal),
    "gt": (lambda a, b: a > b, np.greater),
    "ge": (lambda a, b: a >= b, np.greater_equal),
}
REDUCTIONS = ("sum", "prod", "mean", "max", "min", "argmax", "argmin", "var", "std")
TRANSCENDENTAL = set(UNARY_FLOAT) - {"deg2rad", "rad2deg", "sqrt"} | {"pow", "arctan2"}
