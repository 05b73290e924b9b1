"""`T.grad`: symbolic gradients, as Theano's `theano.grad`, with `T.Lop` and `T.Rop`.

`grad(cost, wrt)` records one `tx.grad` application whose outputs are the
gradients; the `grad` pass turns it into IR when a function is compiled.
The pass also runs once right here on a scratch copy of the graph, so a
non-differentiable op or a disconnected input is reported at the user's
`T.grad` line, as Theano does, rather than later at `function()`.

`consider_constant` and `known_grads` need no support from the pass: the
cost is rebuilt with those variables behind `tx.stop_gradient` (kind
"scoped": cut off for this gradient only), and each known gradient g of a
variable v adds sum(scoped(g) * v) to the cost, whose gradient below v is exactly
the vector-Jacobian product with g.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..ir import print_module, verify_module
from ..ir.errors import TcGradientError, TcTypeError, TcValueError
from ..ir.ops.grad import DISCONNECTED_POLICIES, Grad, StopGradient
from .graph import Apply, Constant, TensorLike, Variable, as_tensor_variable, located, make_apply
from .graph_key import graph_text
from .lower import build_function
from .shared import SharedVariable

RETURN_DISCONNECTED = ("zero", "None", "Disconnected")


class ExpandedGradients(Protocol):
    """The scratch graphs (their text: graph_key.graph_text, or the module's with locations)
    whose gradient is known to expand."""

    def __contains__(self, text: object) -> bool: ...

    def add(self, text: str) -> None: ...


# None: the early check expands every gradient. tc/gradient.py installs a record kept in the
# compile cache (tc/pass_cache.py), so a new process that builds the same gradient skips the
# expansion (2-3 ms of a warm MLP start); the frontend may not reach the cache itself.
expanded_gradients: ExpandedGradients | None = None


class DisconnectedType:
    """What `grad(..., return_disconnected='Disconnected')` gives for a disconnected input."""

    def __repr__(self) -> str:
        return "DisconnectedType()"


def zero_grad(x: TensorLike) -> Variable:
    """x, whose gradient is zero: the cost stays connected to what x depends on (Theano's)."""
    return make_apply(StopGradient, [as_tensor_variable(x)], {"kind": "zero"}).out


def disconnected_grad(x: TensorLike) -> Variable:
    """x, through which no gradient flows: an input reached only through it is disconnected."""
    return make_apply(StopGradient, [as_tensor_variable(x)], {"kind": "disconnected"}).out


def _scoped(x: Variable) -> Variable:
    """x, cut off from the one gradient that is being built (see ir/ops/grad.py)."""
    return make_apply(StopGradient, [x], {"kind": "scoped"}).out


def grad(
    cost: TensorLike | None,
    wrt: Variable | Sequence[Variable],
    consider_constant: Sequence[Variable] | None = None,
    disconnected_inputs: str = "raise",
    add_names: bool = True,
    known_grads: Mapping[Variable, TensorLike] | None = None,
    return_disconnected: str = "zero",
    null_gradients: str = "raise",
) -> Any:
    """d cost / d wrt for a float scalar `cost`: one Variable, or a list for a list of `wrt`.

    Each gradient has the type of its variable. `disconnected_inputs` says what
    to do with a variable the cost does not depend on: 'raise' (default), 'warn'
    or 'ignore'; such a gradient is zeros, or with `return_disconnected` 'None'
    None, or 'Disconnected' a DisconnectedType. `consider_constant` lists
    variables not to differentiate through; `known_grads` maps variables to
    their gradients (the cost may then be None). `add_names` and
    `null_gradients` are accepted for Theano's signature.
    """
    del add_names, null_gradients  # names are not kept on gradients; no op has a null gradient
    _check_choice("disconnected_inputs", disconnected_inputs, DISCONNECTED_POLICIES)
    _check_choice("return_disconnected", return_disconnected, RETURN_DISCONNECTED)
    many = isinstance(wrt, (list, tuple))
    variables = list(wrt) if many else [wrt]  # type: ignore[list-item]
    for index, variable in enumerate(variables):
        if not isinstance(variable, Variable) or isinstance(variable, Constant):
            raise TcTypeError(located(f"grad: wrt[{index}] is {variable!r}, not a symbolic variable"))
    cost_variable = _full_cost(cost, consider_constant, known_grads)
    if cost_variable.ndim != 0:
        raise TcGradientError(
            located(f"grad: the cost must be a scalar, found {cost_variable.type} (sum or average it first)")
        )
    apply = make_apply(Grad, [cost_variable, *variables], {"disconnected": disconnected_inputs})
    _check_now(apply.outputs, remember=disconnected_inputs != "warn")
    results: list[Any] = list(apply.outputs)
    if return_disconnected != "zero":
        reached = _reached(cost_variable)
        for index, variable in enumerate(variables):
            if variable not in reached:
                results[index] = None if return_disconnected == "None" else DisconnectedType()
    return results if many else results[0]


def _check_choice(what: str, value: object, choices: Sequence[str]) -> None:
    if value not in choices:
        raise TcGradientError(located(f"grad: {what} must be one of {', '.join(choices)}, found {value!r}"))


def _full_cost(
    cost: TensorLike | None,
    consider_constant: Sequence[Variable] | None,
    known_grads: Mapping[Variable, TensorLike] | None,
) -> Variable:
    """The cost with the constants and known variables cut off, plus the known gradients' terms."""
    known = dict(known_grads or {})
    if cost is None and not known:
        raise TcGradientError(located("grad: the cost is None and there are no known_grads"))
    cut = list(consider_constant or []) + list(known)
    for variable in cut:
        if not isinstance(variable, Variable):
            raise TcTypeError(
                located(f"grad: consider_constant and known_grads take variables, found {variable!r}")
            )
    terms: list[Variable] = []
    if cost is not None:
        terms.append(clone_replacing(as_tensor_variable(cost), {v: _scoped(v) for v in cut}))
    for variable, known_grad in known.items():
        g = as_tensor_variable(known_grad)
        if g.ndim != variable.ndim:
            raise TcTypeError(
                located(f"grad: the known gradient of {variable} has type {g.type}, expected {variable.type}")
            )
        terms.append((_scoped(g) * variable).sum())
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def clone_replacing(output: Variable, replacements: Mapping[Variable, Variable]) -> Variable:
    """`output` rebuilt with each key of `replacements` replaced by its value (types kept)."""
    done: dict[Variable, Variable] = dict(replacements)
    if not replacements:
        return output
    order: list[Apply] = []
    seen: set[Apply] = set()
    stack: list[tuple[Variable, bool]] = [(output, False)]
    while stack:  # post-order over the applies `output` depends on, stopping at replaced variables
        variable, expanded = stack.pop()
        apply = variable.owner
        if variable in done or apply is None or (apply in seen and not expanded):
            continue
        if expanded:
            order.append(apply)
            continue
        seen.add(apply)
        stack.append((variable, True))
        stack.extend((i, False) for i in apply.inputs)
    for apply in order:
        inputs = [done.get(i, i) for i in apply.inputs]
        if all(new is old for new, old in zip(inputs, apply.inputs, strict=True)):
            continue
        outputs = [Variable(o.type, o.name, o.location) for o in apply.outputs]
        # A loop's step is in terms of its own arguments, so it serves the new inputs as well.
        Apply(apply.op_class, inputs, apply.attributes, outputs, apply.location, regions=apply.regions)
        done.update(zip(apply.outputs, outputs, strict=True))
    return done.get(output, output)


def _reached(cost: Variable) -> set[Variable]:
    """The variables a gradient of `cost` reaches (not through a disconnected_grad)."""
    reached: set[Variable] = set()
    stack = [cost]
    while stack:
        variable = stack.pop()
        if variable in reached:
            continue
        reached.add(variable)
        apply = variable.owner
        if apply is not None and not (
            apply.op_class is StopGradient and apply.attributes.get("kind") != "zero"
        ):
            stack.extend(apply.inputs)
    return reached


def Lop(  # noqa: N802 (Theano's name)
    f: Variable | Sequence[Variable],
    wrt: Variable | Sequence[Variable],
    eval_points: TensorLike | Sequence[TensorLike],
    consider_constant: Sequence[Variable] | None = None,
    disconnected_inputs: str = "raise",
) -> Any:
    """The vector-Jacobian product eval_points . d f / d wrt (Theano's L operator)."""
    outputs, points = _paired(f, eval_points, "Lop")
    known = dict(zip(outputs, points, strict=True))
    return grad(None, wrt, consider_constant, disconnected_inputs, known_grads=known)


def Rop(  # noqa: N802 (Theano's name)
    f: Variable | Sequence[Variable], wrt: Variable | Sequence[Variable], eval_points: Any
) -> Any:
    """The Jacobian-vector product d f / d wrt . eval_points (Theano's R operator).

    Built as two L operators: g(u) = u . J is linear in u, so d(v . g)/du = J v
    whatever u is; u is zeros of f's shape, only there to be differentiated by.
    """
    from .constructors import zeros_like

    outputs = list(f) if isinstance(f, (list, tuple)) else [f]
    variables, points = _paired(wrt, eval_points, "Rop")
    dummies = [zeros_like(output) for output in outputs]
    pulled = Lop(outputs, variables, dummies, disconnected_inputs="ignore")
    result = grad(
        None, dummies, disconnected_inputs="ignore", known_grads=dict(zip(pulled, points, strict=True))
    )
    return result if isinstance(f, (list, tuple)) else result[0]


def _paired(
    variables: Variable | Sequence[Variable], points: Any, what: str
) -> tuple[list[Variable], list[Variable]]:
    many = isinstance(variables, (list, tuple))
    values = list(variables) if many else [variables]  # type: ignore[list-item]
    given = list(points) if isinstance(points, (list, tuple)) and many else [points]
    if len(values) != len(given):
        raise TcValueError(
            located(f"{what}: {len(values)} variables but {len(given)} eval_points; give one point each")
        )
    return values, [as_tensor_variable(p) for p in given]  # type: ignore[misc]


def _check_now(gradients: list[Variable], remember: bool) -> None:
    """Expand the gradient once on a scratch function whose inputs are the graph's free roots
    (unless `expanded_gradients` knows it expands, and `remember` that it does)."""
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
    # A gradient that may warn (of disconnected inputs) is expanded every time, so it does.
    known = expanded_gradients if remember else None
    text = graph_text(roots, gradients) if known is not None else None
    if known is not None and text is not None and text in known:
        return  # (it was lowered, verified and expanded when it was remembered)
    module = build_function("grad_check", roots, gradients, verify=False).module
    if known is not None and text is None:  # a graph with a region: the module's text instead
        text = print_module(module, locations=True)
        if text in known:
            return
    verify_module(module)
    from ..passes.manager import run_pipeline  # (imports the passes only when a gradient is checked)

    run_pipeline(module, ["grad"], verify_each=False)  # errors name the tx.grad's location: this line
    if known is not None and text is not None:
        known.add(text)
