"""Run IR with the ops' numpy reference semantics: the oracle for every backend."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .core import TERMINATOR, Block, Function, Module, Value


def run_block(block: Block, args: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Evaluate a block's ops in order; return the terminator's operands."""
    env: dict[Value, np.ndarray] = dict(zip(block.args, args, strict=True))
    for op in block.ops:
        operands = [env[v] for v in op.operands]
        if op.has_trait(TERMINATOR):
            return operands
        env.update(zip(op.results, op.evaluate(operands), strict=True))
    return []


def run_function(function: Function, *args: np.ndarray) -> list[np.ndarray]:
    """Call a function on numpy arrays (already of the argument types)."""
    arrays = [np.asarray(a, dtype=arg.type.dtype.numpy) for a, arg in zip(args, function.args, strict=True)]
    return [np.array(out) for out in run_block(function.body, arrays)]


def run(module: Module, name: str, *args: np.ndarray) -> list[np.ndarray]:
    return run_function(module.function(name), *args)
