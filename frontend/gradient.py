"""`T.grad`: symbolic gradients, as Theano's `theano.grad`.

`grad(cost, wrt)` records one `tx.grad` application whose outputs are the
gradients; the `grad` pass turns it into IR when a function is compiled.
The pass also runs once right here on a scratch copy of the graph, so a
non-differentiable op or a disconnected input is reported at the user's
`T.grad` line, as Theano does, rather than later at `function()`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir.errors import TcGradientError, TcTypeError
from ..ir.ops.grad import DISCONNECTED_POLICIES, Grad
from ..passes import run_pipeline
from .graph import Constant, TensorLike, Variable, as_tensor_variable, located, make_apply
from .lower import build_function
from .shared import SharedVariable


def grad(
    cost: TensorLike,
    wrt: Variable | Sequence[Variable],
    disconnected_inputs: str = "raise",
) -> Variable | list[Variable]:
    """d cost / d wrt for a float scalar `cost`: one Variable, or a list for a list of `wrt`.

    Each gradient has the type of its variable. `disconnected_inputs` says what
    to do with a variable the cost does not depend on: 'raise' (default), 'warn'
    or 'ignore' (both give zeros).
    """
    if disconnected_inputs not in DISCONNECTED_POLICIES:
        raise TcGradientError(
            located(f"grad: disconnected_inputs must be one of {', '.join(DISCONNECTED_POLICIES)}, ")
            + f"found {disconnected_inputs!r}"
        )
    cost_variable = as_tensor_variable(cost)
    many = isinstance(wrt, (list, tuple))
    variables = list(wrt) if many else [wrt]  # type: ignore[list-item]
    for index, variable in enumerate(variables):
        if not isinstance(variable, Variable) or isinstance(variable, Constant):
            raise TcTypeError(located(f"grad: wrt[{index}] is {variable!r}, not a symbolic variable"))
    if cost_variable.ndim != 0:
        raise TcGradientError(
            located(f"grad: the cost must be a scalar, found {cost_variable.type} (sum or average it first)")
        )
    apply = make_apply(Grad, [cost_variable, *variables], {"disconnected": disconnected_inputs})
    _check_now(apply.outputs)
    return list(apply.outputs) if many else apply.outputs[0]


def _check_now(gradients: list[Variable]) -> None:
    """Expand the gradient once on a scratch function whose inputs are the graph's free roots."""
    roots: list[Variable] = []
    seen: set[Variable] = set()
    stack = list(gradients)
    while stack:
        variable = stack.pop()
        if variable in seen:
            continue
        seen.add(variable)
        if variable.owner is not None:
            stack.extend(variable.owner.inputs)
        elif not isinstance(variable, (Constant, SharedVariable)):
            roots.append(variable)
    module = build_function("grad_check", roots, gradients).module
    run_pipeline(module, ["grad"], verify_each=False)  # errors name the tx.grad's location: this line
