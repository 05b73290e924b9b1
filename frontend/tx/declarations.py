"""The declared types and the initial values of a .tx file's shared variables.

`TypedLowering` adds them to the expression lowering; `lowering.py`'s lowering
of declarations and functions builds on it.
"""

from __future__ import annotations

from typing import Any

import lark
import numpy as np

from ...ir.dtypes import DType
from ...ir.types import TensorType
from .builtins import DTYPES
from .errors import TxShapeError, TxTypeError
from .expressions import NUMBER, ExpressionLowering, Node, show_literal, show_shape

_I64_MAX = 2**63 - 1


class TypedLowering(ExpressionLowering):
    """The expression lowering, plus declared types and shared variables' initial values."""

    # -- types and constants -------------------------------------------------------------

    def type(self, node: lark.Tree) -> TensorType:
        name, *dims = node.children
        if str(name) not in DTYPES:
            known = ", ".join(DTYPES)
            raise self.error(name, f"unknown type '{name}'; types are {known}", TxTypeError)
        shape: list[int | None] = []
        elements = 1
        for dim in dims:
            if dim is None:
                continue
            if isinstance(dim, lark.Tree):
                shape.append(None)
                continue
            # More than 19 digits cannot fit i64 (and past 4300, int() refuses them).
            size = int(dim) if len(dim.lstrip("0")) <= 19 else _I64_MAX + 1
            elements *= size
            if size > _I64_MAX:
                raise self.error(dim, "this dimension is too large: it does not fit i64", TxShapeError)
            if elements > _I64_MAX:
                raise self.error(dim, "the shape has too many elements to count in i64", TxShapeError)
            shape.append(size)
        return TensorType(DTYPES[str(name)], tuple(shape))

    def initial_value(self, node: Node, declared: TensorType) -> np.ndarray:
        """A shared variable's value: a literal, zeros/ones, or a .npy file."""
        dtype = declared.dtype.numpy
        if isinstance(node, lark.Tree) and node.data == "name" and str(node.children[0]) in ("zeros", "ones"):
            if any(d is None for d in declared.shape):
                raise self.error(
                    node,
                    f"{node.children[0]} needs a shape: declare every dimension ({declared.dtype}[3, 4]) "
                    f"or write {node.children[0]}([3, 4])",
                    TxShapeError,
                )
            fill = np.zeros if str(node.children[0]) == "zeros" else np.ones
            return self.allocate(node, fill, declared.shape, dtype)
        if isinstance(node, lark.Tree) and node.data == "call" and str(node.children[0]) in ("zeros", "ones"):
            value = self.fill_call(node, dtype)
        elif isinstance(node, lark.Tree) and node.data == "string":
            value = self.load_npy(node)
        else:
            literal = self.expr(node)
            if not isinstance(literal, (*NUMBER, list)):
                raise self.error(
                    node,
                    "the initial value of a shared variable must be a number, a list, zeros, ones "
                    'or a .npy file path ("weights.npy")',
                    TxTypeError,
                )
            value = self.literal_array(node, literal, declared.dtype)
        return self.conform_value(node, value, declared)

    def fill_call(self, node: lark.Tree, dtype: np.dtype) -> np.ndarray:
        name, method, *args = node.children
        args = [a for a in args if a is not None]
        if method is not None or len(args) != 1 or isinstance(args[0], lark.Tree) and args[0].data == "kwarg":
            raise self.error(node, f"{name} takes one shape: {name}([3, 4])")
        shape = self.expr(args[0])
        shape = [shape] if isinstance(shape, int) else shape
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise self.error(args[0], f"the shape of {name} is a list of sizes: {name}([3, 4])", TxTypeError)
        return self.allocate(node, np.zeros if str(name) == "zeros" else np.ones, shape, dtype)

    def allocate(self, node: Node, fill: Any, shape: Any, dtype: np.dtype) -> np.ndarray:
        """`fill(shape, dtype)`, or an error at `node` when no such array can exist."""
        try:
            return fill(shape, dtype)
        except (ValueError, MemoryError, OverflowError) as err:
            raise self.error(node, f"cannot allocate an array of shape {show_literal(shape)}: {err}") from err

    def load_npy(self, node: lark.Tree) -> np.ndarray:
        text = self.string(node.children[0])
        path = self.source.directory / text
        try:
            value = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise self.error(node, f"cannot read '{text}' ({path}): {reason}") from err
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise self.error(node, f"'{text}' does not hold a numeric array", TxTypeError)
        return value

    def literal_array(self, node: Node, value: Any, dtype: DType) -> np.ndarray:
        """A Python literal as `dtype`; a value that `dtype` cannot hold is an error.

        Floats may round to f32 (a literal has no precision of its own); a
        fraction stored in an integer, or an integer out of range, is refused.
        """
        try:
            array = np.asarray(value)
        except ValueError as err:
            raise self.error(node, f"not a rectangular array: {err}", TxShapeError) from err
        if array.dtype.kind not in "biuf":
            raise self.error(node, "expected numbers", TxTypeError)
        converted = array.astype(dtype.numpy)
        if not (array.dtype.kind == "f" and dtype.is_float):
            with np.errstate(invalid="ignore"):
                lossless = np.array_equal(converted.astype(array.dtype), array)
            if not lossless:
                raise self.error(
                    node, f"{show_literal(value)} cannot be stored in {dtype} without loss", TxTypeError
                )
        return converted

    def conform_value(self, node: Node, value: np.ndarray, declared: TensorType) -> np.ndarray:
        if value.ndim != declared.rank or any(
            d is not None and d != s for d, s in zip(declared.shape, value.shape, strict=False)
        ):
            raise self.error(
                node,
                f"the value has shape {show_shape(value.shape)}, the declared type {declared} needs "
                f"{show_shape(declared.shape)}",
                TxShapeError,
            )
        if value.dtype != declared.dtype.numpy:
            if not np.can_cast(value.dtype, declared.dtype.numpy, "safe"):
                raise self.error(
                    node,
                    f"the value holds {value.dtype}, which {declared.dtype} cannot hold exactly",
                    TxTypeError,
                )
            value = value.astype(declared.dtype.numpy)
        return value
