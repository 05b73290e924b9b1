"""The base classes of the elementwise ops and their dtype sets (see ir/ops/elementwise.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..attributes import Attribute
from ..core import ELEMENTWISE, PURE, Operation, Region, Value
from ..dtypes import DType
from ..errors import TcTypeError
from ..types import TensorType, broadcast_shapes

if TYPE_CHECKING:
    from ..builder import Builder

FLOATS: frozenset[DType] = frozenset({DType.F32, DType.F64})
INTEGERS: frozenset[DType] = frozenset({DType.I8, DType.I16, DType.I32, DType.I64, DType.U8})
NUMBERS: frozenset[DType] = FLOATS | INTEGERS
LOGICAL: frozenset[DType] = INTEGERS | {DType.BOOL}
ANY: frozenset[DType] = NUMBERS | {DType.BOOL}
ONE_INSTRUCTION_MATH = frozenset({"sqrt", "floor", "ceil", "roundeven", "round"})


class ElementwiseOp(Operation):
    """Base of the family: operands of one dtype, broadcast shapes, numpy reference."""

    traits = frozenset({PURE, ELEMENTWISE})
    arity: ClassVar[int] = 1
    accepts: ClassVar[frozenset[DType]] = NUMBERS
    reference: ClassVar[Callable[..., np.ndarray]]
    # Floor, sign, rounding: the derivative is zero wherever it exists, so no gradient flows.
    piecewise_constant: ClassVar[bool] = False

    # How one element is computed, as data the code generator interprets: `math_function`
    # names a math-library function by its C name ("sin", "atan2"), called on floats (a
    # rounding function is the identity on integers); the instructions name an LLVM
    # instruction per kind of dtype ("fadd", "add", "or"; bool defaults to the integer one);
    # `predicate` is a comparison's ("<", "=="). An op with none of them has a small emitter
    # function of its own in codegen_llvm/scalar.py.
    math_function: ClassVar[str | None] = None
    float_instruction: ClassVar[str | None] = None
    int_instruction: ClassVar[str | None] = None
    bool_instruction: ClassVar[str | None] = None
    predicate: ClassVar[str | None] = None
    # Whether an element costs a math function's tens of instructions (a polynomial, a libm
    # call) where arithmetic costs one or two: the CPU's loops over such bodies take a second
    # thread on fewer elements. Every math function but those that are one instruction.
    costly: ClassVar[bool] = False

    # `T.<frontend_name>` and the .tx builtin of that name are generated from the class: a
    # function of the operands with the standard promotion. It defaults to the IR name without
    # `tx.`; None where the frontend builds the op by hand (variadic add, round's modes, cast).

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") and "frontend_name" not in cls.__dict__:
            cls.frontend_name = cls.name.removeprefix("tx.")
        if "costly" not in cls.__dict__ and cls.math_function is not None:
            cls.costly = cls.math_function not in ONE_INSTRUCTION_MATH

    @classmethod
    def result_dtype(cls, operand_dtype: DType) -> DType:
        return operand_dtype

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        dtype = cls.operand_dtype(operand_types)
        shape = broadcast_shapes(*(t.shape for t in operand_types))
        return [TensorType(cls.result_dtype(dtype), shape)]

    @classmethod
    def operand_dtype(cls, operand_types: Sequence[TensorType]) -> DType:
        dtypes = {t.dtype for t in operand_types}
        if len(dtypes) != 1:
            found = ", ".join(str(t) for t in operand_types)
            raise TcTypeError(f"{cls.name} needs operands of one dtype, found {found}")
        dtype = dtypes.pop()
        if dtype not in cls.accepts:
            allowed = ", ".join(sorted(d.value for d in cls.accepts))
            raise TcTypeError(f"{cls.name} is defined for {allowed}, found {dtype}")
        return dtype

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        out_type = self.results[0].type
        with np.errstate(all="ignore"):
            value = type(self).reference(*operands)
        value = np.asarray(value).astype(out_type.dtype.numpy, copy=False)
        shape = np.broadcast_shapes(*(np.shape(a) for a in operands))
        return [np.broadcast_to(value, shape)]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """`local_gradient` gives each operand's gradient at the result's shape;
        summing over the axes an operand was broadcast along brings it back to its own."""
        (g,) = output_grads
        if g is None or not self.result.type.dtype.is_float or self.piecewise_constant:
            return [None] * len(self.operands)
        local = self.local_gradient(builder, g)
        return [
            None if grad is None or not operand.type.dtype.is_float else builder.sum_to(grad, operand.type)
            for grad, operand in zip(local, self.operands, strict=True)
        ]

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        """d result / d operand times g, for each operand (broadcast to the result's shape)."""
        raise NotImplementedError(f"{self.name} has no gradient")


class Unary(ElementwiseOp):
    arity = 1


class UnaryFloat(Unary):
    accepts = FLOATS


class Binary(ElementwiseOp):
    arity = 2


class Comparison(Binary):
    accepts = ANY

    @classmethod
    def result_dtype(cls, operand_dtype: DType) -> DType:
        return DType.BOOL
