"""Run IR with the ops' numpy reference semantics: the oracle for every backend."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .core import TERMINATOR, Block, Function, Module, Operation, Value
from .errors import TcError, TcValueError, TcVerificationError
from .ops.state import Load, Store


def run_block(
    block: Block, args: Sequence[np.ndarray], state: dict[str, np.ndarray] | None = None
) -> list[np.ndarray]:
    """Evaluate a block's ops in order; return the terminator's operands.

    Loads read `state`; stores are collected and written to `state` only after
    the terminator is reached, so every load sees the values from before.
    """
    env: dict[Value, np.ndarray] = dict(zip(block.args, args, strict=True))
    stores: dict[str, np.ndarray] = {}
    for op in block.ops:
        operands = [env[v] for v in op.operands]
        if op.has_trait(TERMINATOR):
            if state is not None:
                state.update(stores)
            return operands
        if isinstance(op, Load):
            if state is None or op.symbol not in state:
                raise TcVerificationError(f"tx.load of unknown global at {op.location}")
            env[op.result] = state[op.symbol]
        elif isinstance(op, Store):
            stores[op.symbol] = np.array(operands[0])
        elif op.name == "tx.given":
            raise TcVerificationError("tx.given must be removed by the substitute-givens pass first")
        else:
            env.update(zip(op.results, evaluate_op(op, operands), strict=True))
    return []


def evaluate_op(op: Operation, operands: list[np.ndarray]) -> list[np.ndarray]:
    """One op's reference; numpy's own complaints (a reduction of an empty axis, a bad
    reshape) become a TcValueError located at the op, as the native code's would be."""
    try:
        return op.evaluate(operands)
    except TcError:
        raise
    except (ValueError, IndexError, TypeError, ZeroDivisionError) as err:
        raise TcValueError(f"{op.name} at {op.location}: {err}") from err


def run_function(
    function: Function, *args: np.ndarray, state: dict[str, np.ndarray] | None = None
) -> list[np.ndarray]:
    """Call a function on numpy arrays (already of the argument types)."""
    arrays = [np.asarray(a, dtype=arg.type.dtype.numpy) for a, arg in zip(args, function.args, strict=True)]
    return [np.array(out) for out in run_block(function.body, arrays, state)]


def initial_state(module: Module) -> dict[str, np.ndarray]:
    """Each global's initial value (zeros where none is given)."""
    return {
        g.name: np.array(g.initial)
        if g.initial is not None
        else np.zeros([d or 0 for d in g.type.shape], g.type.dtype.numpy)
        for g in module.globals
    }


def run(
    module: Module, name: str, *args: np.ndarray, state: dict[str, np.ndarray] | None = None
) -> list[np.ndarray]:
    """Call `name`; `state` (default: the initial values) is updated by its stores."""
    return run_function(module.function(name), *args, state=initial_state(module) if state is None else state)
