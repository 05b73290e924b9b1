"""Theano's `In`: an input of `tc.function` with a default value and a keyword name.

    lr = T.dscalar("lr")
    train = tc.function([index, tc.In(lr, value=0.1)], cost, updates=...)
    train(3)            # lr = 0.1
    train(3, lr=0.5)    # by keyword: the In's name, else the variable's

A default is converted to the input's type when `tc.function` is called, so a
default that does not fit is an error then, not at the first call.
"""

from __future__ import annotations

from collections.abc import Sequence

from tc.frontend.config import config
from tc.frontend.graph import Variable
from tc.ir import TcTypeError, TcValueError
from tc.runtime import CompiledFunction
from tc.runtime.signature import MISSING, convert_default, input_converter


class In:
    """One input of `tc.function` with its options (Theano's `theano.In`).

    `value`: the default used when the call omits the input (None: no default);
    `name`: the keyword it is called by (default: the variable's name);
    `strict`: take only arrays of the input's exact dtype; `allow_downcast`: this
    input's own allow_input_downcast. `mutable` and `borrow` are accepted: tc never
    writes into its arguments, so they change nothing. `update` (an input whose
    value persists) is not supported: use a shared variable and `updates=`.
    """

    def __init__(
        self,
        variable: Variable,
        name: str | None = None,
        value: object = None,
        update: object = None,
        mutable: bool | None = None,
        strict: bool = False,
        allow_downcast: bool | None = None,
        autoname: bool = True,
        implicit: bool | None = None,
        borrow: bool | None = None,
        shared: bool = False,
    ) -> None:
        if not isinstance(variable, Variable):
            raise TcTypeError(f"tc.In: expected a symbolic variable, found {type(variable).__name__}")
        if name is not None and not isinstance(name, str):
            raise TcTypeError(f"tc.In({variable}): name must be a string, found {type(name).__name__}")
        if update is not None:
            raise TcValueError(
                f"tc.In({variable}): update= is not supported; keep the state in a tc.shared "
                "variable and pass updates= to tc.function"
            )
        if implicit:
            raise TcValueError(f"tc.In({variable}): implicit inputs are not supported")
        self.variable = variable
        self.name = name if name is not None else (variable.name if autoname else None)
        self.value = value
        self.mutable = bool(mutable)
        self.strict = bool(strict)
        self.allow_downcast = allow_downcast
        self.borrow = bool(borrow)

    def __repr__(self) -> str:
        default = "" if self.value is None else f", value={self.value!r}"
        return f"In({self.variable}{default})"


def split_inputs(inputs: object) -> tuple[list[Variable], list[In | None]]:
    """`tc.function`'s inputs as variables, and each one's In (None for a plain variable)."""
    items = [inputs] if isinstance(inputs, (Variable, In)) else list(inputs)  # type: ignore[call-overload]
    variables = [item.variable if isinstance(item, In) else item for item in items]
    options = [item if isinstance(item, In) else None for item in items]
    return variables, options


def check_defaults(options: Sequence[In | None], allow_input_downcast: bool) -> None:
    """Convert every default once before compiling: one that does not fit is an error now."""
    for position, option in enumerate(options):
        if option is None or option.value is None:
            continue
        name = option.name or f"#{position}"
        downcast = allow_input_downcast if option.allow_downcast is None else bool(option.allow_downcast)
        convert = input_converter(
            name, option.variable.type, downcast, config.floatX, "tc.function", option.strict
        )
        convert_default(name, option.value, convert, "tc.function")


def configure_inputs(
    function: CompiledFunction, variables: Sequence[Variable], options: Sequence[In | None]
) -> CompiledFunction:
    """Give the compiled `function` its inputs' keyword names and defaults."""
    for position, (variable, option) in enumerate(zip(variables, options, strict=True)):
        if option is None:
            continue
        function.configure_input(
            position,
            name=option.name,
            aliases=(variable.name,),
            default=MISSING if option.value is None else option.value,
            allow_downcast=option.allow_downcast,
            strict=option.strict,
        )
    return function
