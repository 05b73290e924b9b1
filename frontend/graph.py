"""Symbolic variables and the applications that connect them: the user's graph.

A `Variable` is a symbolic tensor with an IR `TensorType`; an `Apply` records
one op application (`op_class`, inputs, attributes, outputs). Result types
always come from the IR op class's own `infer_types`, so the builder and the
IR can never disagree about a type rule. The graph is plain Python objects:
lowering (`lower.py`) turns it into fresh IR each time it is compiled.

Variable's operators and methods (`x + y`, `x.sum()`, `x[i]`) are built by the
modules above this one; they reach them through `METHOD_BUILDERS`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, Union

import numpy as np

from ..ir.attributes import Attribute, DenseAttr, format_scalar
from ..ir.core import Location, Operation, Region
from ..ir.dtypes import DType
from ..ir.errors import TcError, TcTypeError, TcValueError
from ..ir.ops.builtin import Shape
from ..ir.ops.elementwise import Cast
from ..ir.types import TensorType
from .config import config

# Anything `as_tensor_variable` accepts.
TensorLike: TypeAlias = Union["Variable", bool, int, float, np.generic, np.ndarray, Sequence[Any]]
DTypeSpec: TypeAlias = Union[str, DType, "np.dtype[Any]", type, None]

# Values a Python operator may take on its other side; anything else gets NotImplemented.
_OPERAND_TYPES = (bool, int, float, np.generic, np.ndarray, list, tuple)

# The builders behind Variable's operators and methods, by name (`"add"`, `"sum"`,
# `"getitem"`). They build Variables, so their modules import this one; this one
# looks them up here instead of importing them. `variable_methods.py` fills the
# table, and `tc.frontend` imports it, so it is full before any graph is built.
METHOD_BUILDERS: dict[str, Callable[..., Any]] = {}


def user_location() -> Location | None:
    """The first stack frame outside tc: the user's line that is building the graph.

    Frames are recognised by their module name (`tc` or `tc.*`), which works the
    same for editable and regular installs and costs a dict lookup per frame.
    """
    frame: Any = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module != "tc" and not module.startswith("tc."):
            return Location(frame.f_code.co_filename, frame.f_lineno)
        frame = frame.f_back
    return None


def located(message: str) -> str:
    """`message` prefixed with the user's line, for errors raised while building."""
    location = user_location()
    return f"{location}: {message}" if location is not None else message


def parse_dtype(dtype: DTypeSpec) -> DType:
    """A dtype as users write it: `'float32'`, `'f32'`, `np.int8`, a DType, or `'floatX'`."""
    if dtype is None or (isinstance(dtype, str) and dtype == "floatX"):
        return DType.parse(config.floatX)
    if isinstance(dtype, DType):
        return dtype
    return DType.parse(dtype)  # type: ignore[arg-type]  # DType.parse takes any numpy spelling


class Variable:
    """A symbolic tensor: the result of an `Apply`, or a root (a function input).

    `==` and `!=` keep Python's identity semantics, as in Theano, so variables
    can be dict keys and set members; use `T.eq` / `T.neq` for the elementwise
    comparisons.
    """

    # Makes numpy defer to our reflected operators (`ndarray + var` -> `var.__radd__`).
    __array_ufunc__ = None

    def __init__(
        self,
        type: TensorType,
        name: str | None = None,
        location: Location | None = None,
    ) -> None:
        if not isinstance(type, TensorType):
            raise TcTypeError(f"a Variable needs a TensorType, found {type!r}")
        self.type = type
        self.name = name
        self.owner: Apply | None = None
        self.index = 0  # which output of `owner` this is
        self.location = location if location is not None else user_location()

    # -- Theano's descriptive attributes ----------------------------------------------

    @property
    def dtype(self) -> str:
        """The numpy name (`'float64'`), as Theano reports it."""
        return self.type.dtype.theano_name

    @property
    def ndim(self) -> int:
        return self.type.rank

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return self.type.broadcastable

    @property
    def shape(self) -> Variable:
        """The run-time shape, a symbolic int64 vector of length ndim (Theano's `x.shape`)."""
        return make_apply(Shape, [self]).out

    # -- indexing and shapes (indexing.py, shape_ops.py) ---------------------------------

    def __getitem__(self, key: Any) -> Variable:
        return _build("getitem", self, key)

    def __iter__(self) -> Any:
        """Iterating needs a known length (Theano refuses as well otherwise)."""
        if not self.ndim or self.type.shape[0] is None:
            raise TcTypeError(f"cannot iterate over {self.type}: its length is not known when building")
        return (self[i] for i in range(self.type.shape[0]))

    def reshape(self, shape: Any, ndim: int | None = None) -> Variable:
        return _build("reshape", self, shape, ndim)

    def flatten(self, ndim: int = 1) -> Variable:
        return _build("flatten", self, ndim)

    # -- matrix products and reductions (linalg.py, reductions.py) ----------------------

    def dot(self, other: Any) -> Variable:
        return _build("matmul", self, other)

    def __matmul__(self, other: Any) -> Variable:
        return _build("matmul", self, other)

    def __rmatmul__(self, other: Any) -> Variable:
        return _build("matmul", other, self)

    @property
    def T(self) -> Variable:  # noqa: N802 (Theano's name)
        return _build("transpose", self)

    def dimshuffle(self, *pattern: Any) -> Variable:
        return _build("dimshuffle", self, *pattern)

    def sum(
        self, axis: Any = None, dtype: DTypeSpec = None, keepdims: bool = False, acc_dtype: DTypeSpec = None
    ) -> Variable:
        return _build("sum", self, axis, dtype, keepdims, acc_dtype)

    def prod(
        self, axis: Any = None, dtype: DTypeSpec = None, keepdims: bool = False, acc_dtype: DTypeSpec = None
    ) -> Variable:
        return _build("prod", self, axis, dtype, keepdims, acc_dtype)

    def mean(
        self, axis: Any = None, dtype: DTypeSpec = None, keepdims: bool = False, acc_dtype: DTypeSpec = None
    ) -> Variable:
        return _build("mean", self, axis, dtype, keepdims, acc_dtype)

    def max(self, axis: Any = None, keepdims: bool = False) -> Variable:
        return _build("max", self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Variable:
        return _build("min", self, axis, keepdims)

    def argmax(self, axis: Any = None, keepdims: bool = False) -> Variable:
        return _build("argmax", self, axis, keepdims)

    def argmin(self, axis: Any = None, keepdims: bool = False) -> Variable:
        return _build("argmin", self, axis, keepdims)

    def var(self, axis: Any = None, keepdims: bool = False) -> Variable:
        return _build("var", self, axis, keepdims)

    def std(self, axis: Any = None, keepdims: bool = False) -> Variable:
        return _build("std", self, axis, keepdims)

    def astype(self, dtype: DTypeSpec) -> Variable:
        return cast_to(self, parse_dtype(dtype))

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        if self.owner is not None:
            return f"{self.owner.op_class.name}.{self.index}"
        return f"<{self.type}>"

    __repr__ = __str__

    def __bool__(self) -> bool:
        """True, as in Theano (so `if not W:` tests for None), except for a comparison's result.

        A comparison refuses, so that `a < b < c` (Python's `(a < b) and (b < c)`)
        fails instead of silently meaning `b < c`.
        """
        if self.owner is not None and getattr(self.owner.op_class, "predicate", None) is not None:
            raise TcTypeError(
                f"the comparison {self.owner.op_class.name} of symbolic Variables has no truth value; "
                "use T.switch for a conditional and T.and_/T.or_ (or & and |) for logic"
            )
        return True

    def eval(self, inputs_to_values: dict[Variable, Any] | None = None) -> Any:
        """The value of this variable given values for its inputs (Theano's `eval`).

        The function compiled for each set of inputs is cached on the variable.
        """
        return _build("eval", self, inputs_to_values)

    # -- Python operators (the math lives in elemwise.py) -------------------------------

    def __add__(self, other: Any) -> Variable:
        return _binary("add", self, other)

    def __radd__(self, other: Any) -> Variable:
        return _binary("add", other, self)

    def __sub__(self, other: Any) -> Variable:
        return _binary("sub", self, other)

    def __rsub__(self, other: Any) -> Variable:
        return _binary("sub", other, self)

    def __mul__(self, other: Any) -> Variable:
        return _binary("mul", self, other)

    def __rmul__(self, other: Any) -> Variable:
        return _binary("mul", other, self)

    def __truediv__(self, other: Any) -> Variable:
        return _binary("true_div", self, other)

    def __rtruediv__(self, other: Any) -> Variable:
        return _binary("true_div", other, self)

    def __floordiv__(self, other: Any) -> Variable:
        return _binary("floor_div", self, other)

    def __rfloordiv__(self, other: Any) -> Variable:
        return _binary("floor_div", other, self)

    def __mod__(self, other: Any) -> Variable:
        return _binary("mod", self, other)

    def __rmod__(self, other: Any) -> Variable:
        return _binary("mod", other, self)

    def __pow__(self, other: Any) -> Variable:
        return _binary("pow", self, other)

    def __rpow__(self, other: Any) -> Variable:
        return _binary("pow", other, self)

    def __and__(self, other: Any) -> Variable:
        return _binary("and_", self, other)

    def __rand__(self, other: Any) -> Variable:
        return _binary("and_", other, self)

    def __or__(self, other: Any) -> Variable:
        return _binary("or_", self, other)

    def __ror__(self, other: Any) -> Variable:
        return _binary("or_", other, self)

    def __xor__(self, other: Any) -> Variable:
        return _binary("xor", self, other)

    def __rxor__(self, other: Any) -> Variable:
        return _binary("xor", other, self)

    def __lt__(self, other: Any) -> Variable:
        return _binary("lt", self, other)

    def __le__(self, other: Any) -> Variable:
        return _binary("le", self, other)

    def __gt__(self, other: Any) -> Variable:
        return _binary("gt", self, other)

    def __ge__(self, other: Any) -> Variable:
        return _binary("ge", self, other)

    def __neg__(self) -> Variable:
        return _build("neg", self)

    def __pos__(self) -> Variable:
        return self

    def __abs__(self) -> Variable:
        return _build("abs_", self)

    def __invert__(self) -> Variable:
        return _build("invert", self)


def _build(name: str, *arguments: Any) -> Any:
    """Call the builder that `METHOD_BUILDERS` holds under `name`."""
    return METHOD_BUILDERS[name](*arguments)


def _binary(name: str, left: Any, right: Any) -> Any:
    """Apply a binary builder, or give Python the chance to try the other operand."""
    for operand in (left, right):
        if not isinstance(operand, (Variable, *_OPERAND_TYPES)):
            return NotImplemented
    return METHOD_BUILDERS[name](left, right)


class Constant(Variable):
    """A variable with a fixed value; lowered to `tx.constant`."""

    def __init__(self, value: Any, name: str | None = None, location: Location | None = None) -> None:
        array = np.array(value, copy=True)
        array.setflags(write=False)
        dtype = DType.from_numpy(array.dtype)
        super().__init__(TensorType(dtype, tuple(array.shape)), name, location or user_location())
        self.data = array

    @property
    def value(self) -> np.ndarray:
        return self.data

    def __str__(self) -> str:
        return self.name if self.name is not None else f"tx.constant{{{constant_text(self.data)}}}"

    __repr__ = __str__


def constant_text(array: np.ndarray) -> str:
    """A short rendering of a constant for names and debugprint (`2.0`, `[1, 2]`)."""
    if array.ndim == 0:
        return format_scalar(array[()])
    if array.size <= 8:
        return DenseAttr(array).literal()
    shape = "x".join(map(str, array.shape))
    return f"{shape} {DType.from_numpy(array.dtype)}"


class Apply:
    """One application of an IR op class to input variables, producing outputs."""

    def __init__(
        self,
        op_class: type[Operation],
        inputs: Sequence[Variable],
        attributes: dict[str, Attribute],
        outputs: Sequence[Variable],
        location: Location | None = None,
        regions: Callable[[], list[Region]] | None = None,
    ) -> None:
        self.op_class = op_class
        self.inputs = list(inputs)
        self.attributes = dict(attributes)
        self.outputs = list(outputs)
        self.location = location
        # An op with regions (a scan's step) makes them anew for each lowering, since passes
        # rewrite the IR in place.
        self.regions = regions
        for index, output in enumerate(self.outputs):
            output.owner = self
            output.index = index

    @property
    def op(self) -> type[Operation]:
        """Theano's name for what this applies."""
        return self.op_class

    @property
    def out(self) -> Variable:
        if len(self.outputs) != 1:
            raise TcValueError(f"{self.op_class.name} has {len(self.outputs)} outputs, not one")
        return self.outputs[0]

    def __repr__(self) -> str:
        return f"Apply({self.op_class.name}, {self.inputs})"


def make_apply(
    op_class: type[Operation],
    inputs: Sequence[Variable],
    attributes: dict[str, Attribute] | None = None,
) -> Apply:
    """Build an op application; its output types come from the op's own type rule.

    A type or shape error is raised now, at build time, naming the op and the
    user's line, instead of surfacing later inside a compiler pass.
    """
    attrs = {**op_class.attribute_defaults, **(attributes or {})}
    location = user_location()
    for value in inputs:
        if not isinstance(value, Variable):
            raise TcTypeError(f"{op_class.name} takes Variables, found {value!r}")
    try:
        op_class.check_arity(len(inputs))
        types = op_class.infer_types([v.type for v in inputs], attrs)
    except TcError as err:
        message = str(err)
        if op_class.name not in message:
            message = f"{op_class.name}: {message}"
        where = f"{location}: " if location is not None else ""
        raise type(err)(where + message) from None
    outputs = [Variable(t, location=location) for t in types]
    return Apply(op_class, inputs, attrs, outputs, location)


def cast_to(value: Variable, dtype: DType) -> Variable:
    """`value` with dtype `dtype`: the variable itself when it already has it."""
    if value.type.dtype is dtype:
        return value
    return make_apply(Cast, [value], {"dtype": dtype}).out


def constant(value: Any, name: str | None = None, dtype: DTypeSpec = None) -> Constant:
    """A constant tensor. Python data takes Theano's defaults: floats are `floatX`.

    numpy data keeps its own dtype; a Python bool is `bool`, an int `int64`.
    """
    if isinstance(value, Constant) and dtype is None:
        return value
    if isinstance(value, Variable):
        raise TcTypeError(f"T.constant needs a value, found the symbolic variable {value}")
    try:
        if dtype is not None:
            array = np.asarray(value, dtype=parse_dtype(dtype).numpy)
        else:
            array = np.asarray(value)
            if array.dtype == np.float64 and not isinstance(value, (np.ndarray, np.generic)):
                array = array.astype(parse_dtype(None).numpy)
    except OverflowError as err:
        raise TcValueError(f"cannot represent {value!r} as a {dtype} constant: {err}") from None
    except (TypeError, ValueError) as err:
        raise TcTypeError(f"cannot convert {value!r} to a tensor: {err}") from None
    if array.dtype == object and isinstance(value, int):
        raise TcValueError(f"Python integer {value} is out of bounds for int64")
    if array.dtype.kind in "OSUV":
        raise TcTypeError(f"cannot convert {_short(value)} to a tensor")
    return Constant(array, name=name)


def as_tensor_variable(
    x: TensorLike, name: str | None = None, ndim: int | None = None, dtype: DTypeSpec = None
) -> Variable:
    """`x` itself if it is a Variable, else a Constant holding it (Theano's helper)."""
    if isinstance(x, Variable):
        result = x if dtype is None else cast_to(x, parse_dtype(dtype))
    elif x is None or not isinstance(x, _OPERAND_TYPES):
        raise TcTypeError(f"cannot convert {_short(x)} of type {type(x).__name__} to a tensor")
    else:
        result = constant(x, name=name, dtype=dtype)
    if ndim is not None and result.ndim != ndim:
        raise TcTypeError(f"expected a tensor of rank {ndim}, found {result.type}")
    return result


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
