"""The callable that `tc.function` returns: check arguments, call native code, return arrays."""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..ir import Function, TcTypeError, TcValueError, TensorType
from ..ir.shapes import ShapePlan
from .arguments import Converter, make_converter

NativeCall = Callable[[ctypes.Array, ctypes.Array], int]


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: TensorType


class CompiledFunction:
    """A compiled tc function. Call it like the Theano function it replaces."""

    def __init__(
        self,
        name: str,
        inputs: Sequence[InputSpec],
        output_types: Sequence[TensorType],
        native: NativeCall,
        shape_plan: ShapePlan,
        stages: dict[str, str],
        ir_functions: dict[str, Function],
        single_output: bool,
        allow_input_downcast: bool = False,
        float_x: str = "float64",
        code_owner: object = None,
    ) -> None:
        self.name = name
        self._code_owner = code_owner  # keeps the JIT engine (and so `native`) alive
        self.inputs = list(inputs)
        self.output_types = list(output_types)
        self._native = native
        self._plan = shape_plan
        self._stages = stages
        self._ir = ir_functions
        self._single = single_output
        self._converters: list[Converter] = [
            make_converter(s.name, s.type, allow_input_downcast, float_x) for s in inputs
        ]
        self._out_dtypes = [t.dtype.numpy for t in output_types]
        self._positions = {s.name: i for i, s in enumerate(inputs)}
        slots = len(inputs) + len(output_types)
        self._data_type = ctypes.c_void_p * slots
        self._dims_size = 2 * (sum(s.type.rank for s in inputs) + sum(t.rank for t in output_types))

    def __call__(self, *args: object, **kwargs: object) -> np.ndarray | list[np.ndarray]:
        if kwargs:
            args = self._merge_keywords(args, kwargs)
        if len(args) != len(self._converters):
            names = ", ".join(s.name for s in self.inputs)
            raise TcTypeError(
                f"function '{self.name}' takes {len(self._converters)} argument(s) ({names}), "
                f"found {len(args)}"
            )
        arrays = [convert(a) for convert, a in zip(self._converters, args, strict=True)]
        shapes = [a.shape for a in arrays]
        plan = self._plan
        if plan.constraints:
            plan.check(shapes)
        outputs = [np.empty(plan.result_shape(i, shapes), dtype=d) for i, d in enumerate(self._out_dtypes)]
        dims: list[int] = []
        for array in (*arrays, *outputs):
            dims += array.shape
            dims += array.strides
        status = self._native(
            self._data_type(*[a.ctypes.data for a in arrays], *[o.ctypes.data for o in outputs]),
            (ctypes.c_int64 * max(len(dims), 1))(*dims),
        )
        if status != 0:
            raise MemoryError(f"function '{self.name}' could not allocate its temporary buffers")
        return outputs[0] if self._single else outputs

    def _merge_keywords(self, args: tuple[object, ...], kwargs: dict[str, object]) -> tuple[object, ...]:
        merged: list[object] = list(args) + [_MISSING] * (len(self.inputs) - len(args))
        for key, value in kwargs.items():
            position = self._positions.get(key)
            if position is None:
                raise TcTypeError(f"function '{self.name}' has no input named '{key}'")
            if position < len(args):
                raise TcTypeError(f"function '{self.name}' got input '{key}' twice")
            merged[position] = value
        missing = [self.inputs[i].name for i, v in enumerate(merged) if v is _MISSING]
        if missing:
            raise TcTypeError(f"function '{self.name}' is missing input(s) {', '.join(missing)}")
        return tuple(merged)

    # -- looking inside ------------------------------------------------------------------

    def dump(self, stage: str = "tir-opt") -> str:
        """The text of one compilation stage: tir, tir-opt, llvm, llvm-opt or asm."""
        if stage not in self._stages:
            raise TcValueError(f"unknown stage '{stage}'; stages: {', '.join(self._stages)}")
        return self._stages[stage]

    @property
    def stages(self) -> list[str]:
        return list(self._stages)

    def ir_function(self, stage: str = "tir-opt") -> Function:
        """The IR function at `stage` ('tir' as built, 'tir-opt' as compiled)."""
        return self._ir[stage]

    def __repr__(self) -> str:
        args = ", ".join(f"{s.name}: {s.type}" for s in self.inputs)
        return f"<tc function {self.name}({args})>"


class _Missing:
    pass


_MISSING = _Missing()
