"""fuse-gemm: a weight matrix's update by a product becomes one tx.gemm (Theano's gemm
optimisation).

An SGD step updates W by a kernel such as `W - lr * (dot(x.T, g) + 2 * l2 * W)`. The product
writes a temporary of W's size; the kernel reads it and W and writes the new W: three passes
over a matrix of W's size after the product's. When the kernel is affine in W and in the
product, with constant coefficients (`beta * W + alpha * dot(a, b)`), the pass replaces the
kernel and the product by `tx.gemm %W, %a, %b {alpha, beta}`, whose code (BLAS's beta and
alpha, or tc's own tiles) reads W once where it writes the result. plan-buffers, which runs
next, may then let it write W's own buffer.

The coefficients are folded in float64, so the result may differ from the kernel's in the
last bit (W * (1 - lr * 2 * l2) rather than W - lr * (2 * l2 * W)), as under Theano's.

Matched: a kernel.elementwise with one result, that result stored to @W and used by nothing
else; among its operands the value loaded from @W and a float tx.dot of two matrices used
only by the kernel, of one dtype with the kernel's result; every other operand a constant of
equal elements; no static size of 1 in W's or the product's type (a `?` never stretches, so
the two shapes then agree wherever the kernel is valid, and the product needs no
broadcasting). Its body: constants and add, sub, mul, div and neg, where every product and
quotient has a constant side, and fill (its value). The yielded value must have no constant
term and a nonzero coefficient of the product.

A term `0 * sign(W)` (the gradient of an L1 penalty whose weight is 0.0, as in the tutorials'
MLP with L1_reg = 0.00) counts as 0: it differs from 0 only where W is nan, where the
update, beta * W with beta nonzero, is nan as well. (Theano and PyTensor drop every
product by a constant 0; tc drops only this one, which changes no result.)

Assumes: fused IR (`fuse`). Guarantees: every tx.gemm has matrices of one float dtype, its
C a global's value the update stores.
"""

from __future__ import annotations

import numpy as np

from ..ir import Function, Operation, Value
from ..ir.ops.kernel import KernelElementwise
from ..ir.ops.linalg import Dot, Gemm
from ..ir.ops.state import Load, Store
from .manager import Pass, register

# A value of the body as coefficients: (of W, of the product, constant term).
Affine = tuple[float, float, float]


class Bounded:
    """The form of sign(W): finite wherever W is not nan, so 0 times it is 0 but there."""


BOUNDED = Bounded()
Form = Affine | Bounded


@register
class FuseGemm(Pass):
    name = "fuse-gemm"
    summary = "turn a weight update W - lr * dot(a, b) (and its decay) into one tx.gemm"

    def run_on_function(self, function: Function) -> None:
        block = function.body
        loads = {op.results[0]: op.symbol for op in block.ops if isinstance(op, Load)}
        for store in [op for op in block.ops if isinstance(op, Store)]:
            kernel = store.operands[0].owner
            if not isinstance(kernel, KernelElementwise) or len(store.operands[0].uses) != 1:
                continue
            match = _match(kernel, store.symbol, loads)
            if match is None:
                continue
            product, c, (alpha, beta) = match
            gemm = Gemm.create(
                [c, *product.operands], {"alpha": alpha, "beta": beta}, location=kernel.location
            )
            block.insert_before(kernel, gemm)
            gemm.results[0].name = kernel.results[0].name
            kernel.results[0].replace_all_uses_with(gemm.results[0])
            coefficients = [
                v.owner for v in kernel.operands if v.owner is not None and v.owner.name == "tx.constant"
            ]
            kernel.erase()
            product.erase()
            for constant in dict.fromkeys(coefficients):  # (the kernel's constants, now unused)
                if not constant.results[0].uses:
                    constant.erase()


def _match(
    kernel: KernelElementwise, symbol: str, loads: dict[Value, str]
) -> tuple[Dot, Value, tuple[float, float]] | None:
    """(the product, W's value, (alpha, beta)) when `kernel` stores beta * W + alpha * product."""
    if len(kernel.results) != 1:
        return None
    dtype = kernel.results[0].type.dtype
    c = next((v for v in kernel.operands if loads.get(v) == symbol), None)
    products = [v for v in kernel.operands if isinstance(v.owner, Dot)]
    if c is None or len(products) != 1 or not dtype.is_float:
        return None
    product = products[0]
    dot = product.owner
    assert isinstance(dot, Dot)
    for value in (c, product, *dot.operands):
        if value.type.rank != 2 or value.type.dtype is not dtype or 1 in value.type.shape:
            return None
    if len(product.uses) != 1 or kernel.operands.count(product) != 1 or kernel.operands.count(c) != 1:
        return None
    forms: dict[Value, Form] = {}
    for operand, arg in zip(kernel.operands, kernel.body.block.args, strict=True):
        if operand is c:
            forms[arg] = (1.0, 0.0, 0.0)
        elif operand is product:
            forms[arg] = (0.0, 1.0, 0.0)
        else:
            value = _constant(operand)
            if value is None:
                return None
            forms[arg] = (0.0, 0.0, value)
    result = _body_form(kernel, forms)
    if not isinstance(result, tuple):
        return None
    beta, alpha, constant = result
    if constant != 0.0 or alpha == 0.0 or beta == 0.0 or not all(np.isfinite((alpha, beta))):
        return None  # (beta == 0 would also lose the nan a dropped 0 * sign(W) carries)
    return dot, c, (alpha, beta)


def _constant(value: Value) -> float | None:
    """The value of a constant whose elements are all one number, else None."""
    owner = value.owner
    if owner is None or owner.name != "tx.constant":
        return None
    array = np.asarray(owner.value)  # type: ignore[attr-defined]
    if array.size == 0 or array.dtype.kind != "f" or not np.all(array == array.flat[0]):
        return None
    return float(array.flat[0])


def _body_form(kernel: KernelElementwise, forms: dict[Value, Form]) -> Form | None:
    """The yielded value's coefficients, or None where the body is not affine so."""
    for op in kernel.body.block.ops:
        if op.name == "kernel.yield":
            return forms.get(op.operands[0])
        form = _op_form(op, [forms.get(v) for v in op.operands])
        if form is None:
            return None
        forms[op.results[0]] = form
    return None


def _op_form(op: Operation, operands: list[Form | None]) -> Form | None:
    if any(form is None for form in operands):
        return None
    if op.name == "tx.constant":
        return _constant_form(op)
    if op.name == "tx.sign" and _of_w_alone(operands[0]):
        return BOUNDED  # (a product's sign could be nan where W is not)
    if any(isinstance(form, Bounded) for form in operands):
        return _zero_times_bounded(op, operands)
    forms: list[Affine] = operands  # type: ignore[assignment]
    if op.name == "tx.fill":
        return forms[1]
    if op.name == "tx.neg":
        return _scaled(forms[0], -1.0)
    if op.name in ("tx.add", "tx.sub"):
        sign = 1.0 if op.name == "tx.add" else -1.0
        return (
            forms[0][0] + sign * forms[1][0],
            forms[0][1] + sign * forms[1][1],
            forms[0][2] + sign * forms[1][2],
        )
    if op.name == "tx.mul":
        left, right = forms
        if _is_constant(left):
            return _scaled(right, left[2])
        return _scaled(left, right[2]) if _is_constant(right) else None
    if op.name == "tx.div" and _is_constant(forms[1]) and forms[1][2] != 0.0:
        return _scaled(forms[0], 1.0 / forms[1][2])
    return None


def _of_w_alone(form: Form | None) -> bool:
    """Whether `form` is finite coefficients of W and a constant, without the product."""
    return isinstance(form, tuple) and form[1] == 0.0 and bool(np.all(np.isfinite(form)))


def _zero_times_bounded(op: Operation, forms: list[Form | None]) -> Affine | None:
    """0 for `0 * sign(W)` (either order); None for anything else done with a sign."""
    if op.name != "tx.mul":
        return None
    other = forms[1] if isinstance(forms[0], Bounded) else forms[0]
    return (0.0, 0.0, 0.0) if other == (0.0, 0.0, 0.0) else None


def _constant_form(op: Operation) -> Affine | None:
    value = _constant(op.results[0])
    return None if value is None else (0.0, 0.0, value)


def _is_constant(form: Affine) -> bool:
    return form[0] == 0.0 and form[1] == 0.0


def _scaled(form: Affine, factor: float) -> Affine:
    return (form[0] * factor, form[1] * factor, form[2] * factor)
