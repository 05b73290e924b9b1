"""Check the IR's invariants; every error names the op, the value and the location.

The verifier is the gate for IR read from text, so it must reject any op a
hostile file can spell: a type rule that trips over the wrong number of
operands is reported as a verification error of that op, never as a crash.
"""

from __future__ import annotations

from .core import CALLABLE_BODY, OP_REGISTRY, TERMINATOR, Block, Function, Module, Operation, Value
from .errors import TcError, TcTypeError, TcVerificationError
from .ops.state import GlobalAccess, Load, Store
from .types import TensorType


def verify_module(module: Module) -> None:
    names = [f.name for f in module.functions] + [g.name for g in module.globals]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise TcVerificationError(f"symbol @{sorted(duplicates)[0]} is defined twice")
    for function in module.functions:
        verify_function(function)
        _verify_state_access(module, function)


def _verify_state_access(module: Module, function: Function) -> None:
    """Loads and stores name a global and keep its dtype and rank; one store per global."""
    globals_by_name = {g.name: g for g in module.globals}
    stored: set[str] = set()
    for op in function.walk():
        if not isinstance(op, GlobalAccess):
            continue
        symbol = op.symbol
        context = f"{describe_op(op)} in @{function.name}"
        operands, results = (0, 1) if isinstance(op, Load) else (1, 0)
        if (len(op.operands), len(op.results)) != (operands, results):
            raise TcVerificationError(
                f"{context}: {op.name} takes {operands} operand(s) and gives {results} result(s), "
                f"found {len(op.operands)} and {len(op.results)}"
            )
        glob = globals_by_name.get(symbol)
        if glob is None:
            raise TcVerificationError(f"{context}: unknown global @{symbol}")
        value_type = op.results[0].type if isinstance(op, Load) else op.operands[0].type
        if isinstance(op, Load) and value_type != glob.type:
            raise TcVerificationError(f"{context}: loads {value_type} from @{symbol} of type {glob.type}")
        if value_type.dtype != glob.type.dtype or value_type.rank != glob.type.rank:
            raise TcVerificationError(
                f"{context}: stores {value_type} into @{symbol} of type {glob.type} "
                "(an update must keep the dtype and rank)"
            )
        if isinstance(op, Store):
            if symbol in stored:
                raise TcVerificationError(f"{context}: @{symbol} is stored twice")
            stored.add(symbol)


def verify_function(function: Function) -> None:
    term = function.body.terminator
    if term is None or term.name != "return":
        where = f" at {function.location}" if function.location else ""
        raise TcVerificationError(f"function @{function.name}{where} does not end in return")
    _verify_block(function.body, set(), f"@{function.name}")


def _verify_block(block: Block, visible: set[Value], where: str) -> None:
    defined = set(visible) | set(block.args)
    for position, op in enumerate(block.ops):
        context = f"{describe_op(op)} in {where}"
        if op.has_trait(TERMINATOR) and position != len(block.ops) - 1:
            raise TcVerificationError(f"{context}: terminator is not the last op of its block")
        for index, operand in enumerate(op.operands):
            if operand not in defined:
                raise TcVerificationError(
                    f"{context}: operand #{index} ({operand.type}) is used before it is defined"
                )
        _verify_op(op, context)
        for region in op.regions:
            for inner in region.blocks:
                # Kernel bodies are isolated from above: they see only their own arguments.
                _verify_block(inner, set(), where)
        defined.update(op.results)


def _refined_body(op: Operation, expected: list[TensorType], found: list[TensorType]) -> bool:
    """A loop's results may know fewer static sizes than its body reveals once optimised
    (fusion learns sizes inside the body after the results were typed)."""
    if not op.has_trait(CALLABLE_BODY) or len(expected) != len(found):
        return False
    return all(
        e.dtype is f.dtype
        and e.rank == f.rank
        and all(d is None or d == s for d, s in zip(f.shape, e.shape, strict=True))
        for e, f in zip(expected, found, strict=True)
    )


def _verify_op(op: Operation, context: str) -> None:
    if OP_REGISTRY.get(op.name) is not type(op):
        raise TcVerificationError(f"{context}: unregistered op")
    try:
        type(op).check_arity(len(op.operands))
    except TcTypeError as err:
        raise TcTypeError(f"{context}: {err}") from None
    for key, kind in op.attribute_types.items():
        if not isinstance(op.attributes.get(key), kind):
            raise TcVerificationError(f"{context}: attribute '{key}' is missing or not {kind}")
    if len(op.regions) != op.num_regions:
        raise TcVerificationError(f"{context}: expected {op.num_regions} region(s), found {len(op.regions)}")
    try:
        expected = type(op).infer_types([v.type for v in op.operands], op.attributes, op.regions)
    except NotImplementedError:
        expected = None
    except TcError as err:
        raise TcVerificationError(f"{context}: {err}") from err
    except (IndexError, KeyError, ValueError, TypeError, AttributeError) as err:
        raise TcVerificationError(f"{context}: {_misfit(op)} ({type(err).__name__}: {err})") from err
    found = [r.type for r in op.results]
    if expected is not None and expected != found and not _refined_body(op, expected, found):
        shown = ", ".join(map(str, expected))
        raise TcVerificationError(
            f"{context}: result type {', '.join(map(str, found))} does not match the inferred {shown}"
        )
    try:
        op.verify_op()
    except TcVerificationError as err:
        raise TcVerificationError(f"{context}: {err}") from err
    except TcError:
        raise
    except (IndexError, KeyError, ValueError, TypeError, AttributeError) as err:
        raise TcVerificationError(f"{context}: {_misfit(op)} ({type(err).__name__}: {err})") from err


def _misfit(op: Operation) -> str:
    """What to say when an op's own rules cannot even be applied to it: its shape is wrong."""
    types = ", ".join(str(v.type) for v in op.operands) or "none"
    regions = f" and {len(op.regions)} region(s)" if op.regions else ""
    return f"{op.name} does not take these operands ({types}){regions}"


def describe_op(op: Operation) -> str:
    where = f" at {op.location}" if op.location else ""
    return f"'{op.name}'{where}"
