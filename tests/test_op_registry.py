"""Every elementwise op of the registry is reachable as `T.<name>` and as a .tx builtin,
and both compute what the op's numpy reference computes; so is every other op with a
generated builder (`frontend_name`: frontend/generated.py), called with its keywords' defaults
on float matrices and checked against the interpreter.

Most builders are generated from the op classes (`frontend_name`); the ops the
frontend builds by hand are listed in HAND_WRITTEN, so a new op that is neither
generated nor listed fails here. A new op needs no new test code otherwise.
"""

from __future__ import annotations

import inspect
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.artifact import build_file
from tc.codegen_llvm.context import LOWERINGS
from tc.codegen_llvm.lower import register_lowerings
from tc.codegen_llvm.scalar import scalar_emitter
from tc.frontend.elemwise import GENERATED
from tc.frontend.generated import GENERATED_OPS
from tc.frontend.lower import build_function_ir
from tc.frontend.tx.builtins import FUNCTIONS
from tc.ir import OP_REGISTRY, DType, Operation, run_function
from tc.ir.ops.elementwise import ElementwiseOp, cast_reference

register_lowerings()  # the registry is filled before the first lowering, not on import

ELEMENTWISE = sorted(
    (cls for cls in OP_REGISTRY.values() if issubclass(cls, ElementwiseOp)), key=lambda c: c.name
)

# The ops the frontend builds by hand: the builtin that reaches each, and the argument
# after the operands, if any (a round mode, a dtype).
HAND_WRITTEN: dict[str, tuple[str, str | DType | None]] = {
    "tx.add": ("add", None),
    "tx.mul": ("mul", None),
    "tx.round_half_even": ("round", None),
    "tx.round_half_away": ("round", "half_away_from_zero"),
    "tx.select": ("switch", None),
    "tx.fill": ("fill", None),
    "tx.cast": ("cast", DType.I32),
}

# Operand values by dtype; the second operand differs from the first, and no integer divisor is 0.
VALUES = {
    DType.F64: [
        np.array([0.3, -0.7, 1.5, 2.0, 0.0, -3.25]),
        np.array([1.2, 0.4, -2.5, 2.0, 3.0, -0.5]),
    ],
    DType.I32: [np.array([3, -7, 0, 5, 12, -1], np.int32), np.array([2, 3, 1, 5, -4, 7], np.int32)],
}
CONDITION = np.array([True, False, True, False, True, False])


def _call(cls: type[ElementwiseOp]) -> tuple[str, str | DType | None]:
    if cls.frontend_name is not None:
        return cls.frontend_name, None
    return HAND_WRITTEN[cls.name]


def _dtype(cls: type[ElementwiseOp]) -> DType:
    return DType.F64 if DType.F64 in cls.accepts else DType.I32


def _operands(cls: type[ElementwiseOp]) -> list[np.ndarray]:
    values = VALUES[_dtype(cls)]
    return [CONDITION, *values] if cls.name == "tx.select" else values[: cls.arity]


def _reference(cls: type[ElementwiseOp]) -> np.ndarray:
    operands = _operands(cls)
    if cls.name == "tx.cast":
        return cast_reference(operands[0], DType.I32)
    with np.errstate(all="ignore"):
        value = cls.reference(*operands)
    return np.asarray(value).astype(cls.result_dtype(_dtype(cls)).numpy)


def _check(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, what
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0, equal_nan=True, err_msg=what)


def _tx_type(dtype: DType) -> str:
    return f"{dtype.value}[?]"


@cache
def _python_functions() -> tuple[dict[str, int], Any]:
    """One compiled function whose outputs are every op applied through `T.<name>`."""
    inputs = {d: [T.tensor(d.value, (None,), f"{d.value}_{i}") for i in range(2)] for d in VALUES}
    condition = T.tensor("bool", (None,), "c")
    outputs, index = [], {}
    for cls in ELEMENTWISE:
        name, extra = _call(cls)
        operands = inputs[_dtype(cls)]
        operands = [condition, *operands] if cls.name == "tx.select" else operands[: cls.arity]
        args = [*operands] + ([] if extra is None else [extra.value if isinstance(extra, DType) else extra])
        out = getattr(T, name)(*args)
        assert out.owner is not None and out.owner.op_class is cls, f"T.{name} does not apply {cls.name}"
        index[cls.name] = len(outputs)
        outputs.append(out)
    all_inputs = [*inputs[DType.F64], *inputs[DType.I32], condition]
    return index, tc.function(all_inputs, outputs, on_unused_input="ignore")


@pytest.fixture(scope="module")
def tx_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .tx file with one function per op, `op_<name>`, calling its builtin."""
    lines = []
    for cls in ELEMENTWISE:
        name, extra = _call(cls)
        dtype = _dtype(cls)
        params = [f"x{i}: {_tx_type(dtype)}" for i in range(min(cls.arity, 2))]
        if cls.name == "tx.select":
            params = ["c: bool[?]", *params]
        args = [p.split(":")[0] for p in params]
        if extra is not None:
            args.append(extra.value if isinstance(extra, DType) else f'"{extra}"')
        result = _reference(cls).dtype
        result_type = _tx_type(DType.from_numpy(result))
        lines.append(
            f"fn op_{cls.name[3:]}({', '.join(params)}) -> {result_type} {{\n"
            f"    return {name}({', '.join(args)})\n}}\n"
        )
    path = tmp_path_factory.mktemp("registry") / "every_op.tx"
    path.write_text("\n".join(lines))
    return path


@pytest.fixture(scope="module")
def tx_module(tx_source: Path):  # type: ignore[no-untyped-def]
    return tc.compile_file(tx_source)


@pytest.mark.parametrize("cls", ELEMENTWISE, ids=[c.name for c in ELEMENTWISE])
def test_reachable_as_T_and_as_a_tx_builtin(cls: type[ElementwiseOp]) -> None:
    name, _ = _call(cls)
    assert callable(getattr(T, name, None)), f"{cls.name} has no T.{name}"
    assert name in T.__all__
    assert FUNCTIONS.get(name) is getattr(T, name), f"{cls.name} has no .tx builtin {name}"
    assert scalar_emitter(cls) is not None, f"{cls.name} has no scalar lowering"


def test_generated_builders_follow_the_classes() -> None:
    generated = {cls.frontend_name: cls for cls in ELEMENTWISE if cls.frontend_name is not None}
    assert set(GENERATED) == set(generated)
    for name, cls in generated.items():
        assert GENERATED[name].__name__ == name
        assert GENERATED[name].__doc__ == (cls.__doc__ or "").strip()
    assert not set(generated.values()) & {OP_REGISTRY[name] for name in HAND_WRITTEN}


@pytest.mark.parametrize("cls", ELEMENTWISE, ids=[c.name for c in ELEMENTWISE])
def test_T_computes_the_reference(cls: type[ElementwiseOp]) -> None:
    index, function = _python_functions()
    outputs = function(*VALUES[DType.F64], *VALUES[DType.I32], CONDITION)
    _check(outputs[index[cls.name]], _reference(cls), f"T: {cls.name}")


@pytest.mark.parametrize("cls", ELEMENTWISE, ids=[c.name for c in ELEMENTWISE])
def test_tx_builtin_computes_the_reference(cls: type[ElementwiseOp], tx_source: Path, tx_module) -> None:  # type: ignore[no-untyped-def]
    built = build_file(tx_source, functions=[f"op_{cls.name[3:]}"])
    ops = {op.name for fn in built.module.functions for op in fn.walk()}
    assert cls.name in ops, f".tx {_call(cls)[0]} does not apply {cls.name}: {sorted(ops)}"
    got = getattr(tx_module, f"op_{cls.name[3:]}")(*_operands(cls))
    _check(np.asarray(got), _reference(cls), f".tx: {cls.name}")


# -- the other generated builders (frontend/generated.py): a function of tensors and keywords --

GENERATED_OP_CLASSES = sorted(
    (c for c in OP_REGISTRY.values() if not issubclass(c, ElementwiseOp) and c.frontend_name is not None),
    key=lambda c: c.name,
)
MATRIX = np.array([[0.3, -0.7, 1.5, 2.0], [0.0, -3.25, 1.2, 0.4], [-2.5, 2.0, 3.0, -0.5]])


def _generated_operands(cls: type[Operation]) -> list[np.ndarray]:
    """Float matrices, one per operand; the builder is called with its keywords' defaults."""
    return [MATRIX * (k + 1) for k in range(int(cls.arity))]  # type: ignore[call-overload]


def _generated_graph(cls: type[Operation]) -> tuple[list[Any], Any]:
    inputs = [T.dmatrix(f"x{k}") for k in range(len(_generated_operands(cls)))]
    out = getattr(T, str(cls.frontend_name))(*inputs)
    assert out.owner is not None and out.owner.op_class is cls, (
        f"T.{cls.frontend_name} does not apply {cls.name}"
    )
    return inputs, out


def _generated_reference(cls: type[Operation]) -> np.ndarray:
    """What the interpreter (the ops' numpy references) computes for the unoptimised graph."""
    inputs, out = _generated_graph(cls)
    module = build_function_ir("reference", inputs, [out])
    return run_function(module.functions[0], *_generated_operands(cls))[0]


def _tx_type_of(type_: Any) -> str:
    dims = ", ".join("?" if d is None else str(d) for d in type_.shape)
    return f"{type_.dtype.value}[{dims}]" if type_.rank else type_.dtype.value


@pytest.mark.parametrize("cls", GENERATED_OP_CLASSES, ids=[c.name for c in GENERATED_OP_CLASSES])
def test_generated_op_is_reachable_as_T_and_as_a_tx_builtin(cls: type[Operation]) -> None:
    name = str(cls.frontend_name)
    builder = getattr(T, name, None)
    assert callable(builder) and name in T.__all__, f"{cls.name} has no T.{name}"
    assert FUNCTIONS.get(name) is builder, f"{cls.name} has no .tx builtin {name}"
    assert builder is GENERATED_OPS[name] and builder.__doc__ == (cls.__doc__ or "").strip()
    if cls.frontend_namespace is not None:
        assert getattr(getattr(T, cls.frontend_namespace), name) is builder
    parameters = list(inspect.signature(builder).parameters)
    assert parameters[len(_generated_operands(cls)) :] == list(cls.attribute_descriptors)
    assert cls in LOWERINGS, f"{cls.name} has no CPU lowering"


@pytest.mark.parametrize("cls", GENERATED_OP_CLASSES, ids=[c.name for c in GENERATED_OP_CLASSES])
def test_generated_op_through_T_computes_the_reference(cls: type[Operation]) -> None:
    inputs, out = _generated_graph(cls)
    got = tc.function(inputs, out)(*_generated_operands(cls))
    _check(np.asarray(got), _generated_reference(cls), f"T: {cls.name}")


@pytest.mark.parametrize("cls", GENERATED_OP_CLASSES, ids=[c.name for c in GENERATED_OP_CLASSES])
def test_generated_op_through_tx_computes_the_reference(cls: type[Operation], tmp_path: Path) -> None:
    names = [f"x{k}" for k in range(len(_generated_operands(cls)))]
    result = _tx_type_of(_generated_graph(cls)[1].type)
    path = tmp_path / "op.tx"
    path.write_text(
        f"fn op({', '.join(f'{n}: f64[?, ?]' for n in names)}) -> {result} {{\n"
        f"    return {cls.frontend_name}({', '.join(names)})\n}}\n"
    )
    built = build_file(path, functions=["op"])
    assert cls.name in {op.name for fn in built.module.functions for op in fn.walk()}
    got = tc.compile_file(path).op(*_generated_operands(cls))
    _check(np.asarray(got), _generated_reference(cls), f".tx: {cls.name}")
