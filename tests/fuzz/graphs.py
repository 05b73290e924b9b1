"""Random well-typed tc graphs, each built alongside the same computation in numpy.

A `Program` is a list of `Node`s: every node knows how to build itself in tc
from its operands' variables (`build`), how to compute itself in numpy from
its operands' values (`compute`), and the Python line that builds it
(`line`), so any node can be replayed alone as a one-op reproducer.

Inputs get concrete shapes when the program is generated; the values (and the
memory layouts they are passed in) are drawn per call by `draw_arguments`.
Every choice comes from one seeded generator, so `(seed, index)` names a
program exactly.

Exclusions, each because numpy or the README leaves the result undefined:
- `clip` bounds are constants with lo <= hi (numpy's result for lo > hi is an
  implementation detail);
- the sign of a zero result is not compared (`maximum(-0.0, 0.0)` may be either);
- integer `x ** y` follows the README (negative exponents truncate) and
  float -> integer casts saturate, nan -> 0 (numpy_reference implements both);
- Python int constants fit the other operand's dtype (an int that does not
  fit is a TcTypeError by design, and >= 2**63 is a known bug).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy_reference as ref
from arguments import index_values, random_values
from op_tables import (
    BINARY_ARITH,
    BINARY_LINES,
    BINARY_LOGIC,
    COMPARISONS,
    REDUCTIONS,
    TRANSCENDENTAL,
    UNARY_ANY,
    UNARY_FLOAT,
    UNARY_LINES,
)

from tc import tensor as T
from tc.frontend.graph import Variable

Value = Any  # an ndarray, or a Python scalar constant


@dataclass(eq=False)
class Const:
    """A Python or numpy scalar operand, written into the program as text."""

    value: object
    text: str


@dataclass(eq=False)
class Node:
    """One value of the program: an input or an op applied to earlier nodes and constants."""

    name: str
    operands: tuple[Node | Const, ...]
    build: Callable[..., Variable]
    compute: Callable[..., np.ndarray]
    line: str  # "{0}", "{1}", ... stand for the operands
    label: str  # the op and operand dtypes, for deduplicating findings
    tolerance: str = "exact"  # exact | rounding | transcendental | sum | variance
    var: Variable | None = None
    shape: tuple[int, ...] = ()
    draw: Callable[[np.random.Generator], np.ndarray] | None = None  # inputs only
    # Reads only its operands' shapes (zeros_like, fill): tc, as Theano, never computes an
    # operand whose value no output needs, so numpy's errors there are not tc's.
    shape_only: bool = False

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.var.type.dtype.numpy)  # type: ignore[union-attr]

    @property
    def static(self) -> tuple[int | None, ...]:
        return tuple(self.var.type.shape)  # type: ignore[union-attr]

    def source(self) -> str:
        names = [o.name if isinstance(o, Node) else o.text for o in self.operands]
        return f"{self.name} = " + self.line.format(*names)


@dataclass
class Program:
    """A random graph: inputs, the op nodes in order, and the outputs."""

    seed: int
    index: int
    inputs: list[Node] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    outputs: list[Node] = field(default_factory=list)

    def source(self) -> str:
        lines = [n.source() for n in self.inputs + self.nodes]
        ins = ", ".join(n.name for n in self.inputs)
        outs = ", ".join(n.name for n in self.outputs)
        lines.append(f"f = tc.function([{ins}], [{outs}], on_unused_input='ignore')")
        return "\n".join(lines)

    def reachable(self, roots: list[Node], values_only: bool = False) -> list[Node]:
        """The op nodes `roots` depend on, in program order (with `values_only`, not through
        the operands of which a node reads only the shape)."""
        needed: set[int] = set()
        stack = list(roots)
        while stack:
            node = stack.pop()
            if id(node) in needed:
                continue
            needed.add(id(node))
            if not (values_only and node.shape_only):
                stack.extend(o for o in node.operands if isinstance(o, Node))
        return [n for n in self.nodes if id(n) in needed]


def evaluate(
    program: Program, values: list[np.ndarray], roots: list[Node], values_only: bool = False
) -> dict[int, np.ndarray]:
    """numpy's value of every node `roots` need (raises what numpy raises); with
    `values_only`, operands of which only the shape is read are not computed."""
    env: dict[int, np.ndarray] = {id(n): v for n, v in zip(program.inputs, values, strict=True)}
    with np.errstate(all="ignore"):
        for node in program.reachable(roots, values_only):
            args = [
                env.get(id(o)) if isinstance(o, Node) else o.value  # None: only its shape is read
                for o in node.operands
            ]
            env[id(node)] = np.asarray(node.compute(*args))
    return env


# -- the generator -------------------------------------------------------------------------


def _weighted(rng: np.random.Generator, table: dict[str, float]) -> str:
    names = list(table)
    weights = np.array([table[n] for n in names])
    return str(rng.choice(names, p=weights / weights.sum()))


def broadcast_shape(a: Node, b: Node | Const) -> tuple[int, ...] | None:
    """The concrete result shape when tc's static types allow `a op b`, else None."""
    if isinstance(b, Const) and not isinstance(b.value, np.ndarray):
        return a.shape
    rank = max(len(a.shape), len(np.shape(b.value) if isinstance(b, Const) else b.shape))

    def pad(n: Node | Const) -> list[tuple[int, int | None]]:
        # A numpy array constant has a static shape: its dimensions of 1 stretch.
        pairs = (
            [(d, d) for d in n.value.shape]
            if isinstance(n, Const)
            else list(zip(n.shape, n.static, strict=True))
        )  # type: ignore[union-attr]
        return [(1, 1)] * (rank - len(pairs)) + pairs

    out = []
    for (ca, sa), (cb, sb) in zip(pad(a), pad(b), strict=True):
        if ca == cb:
            out.append(ca)
        elif sa == 1:
            out.append(cb)
        elif sb == 1:
            out.append(ca)
        else:
            return None
    return tuple(out)


class Generator:
    """Draws one program from `numpy.random.default_rng([seed, index])`."""

    def __init__(self, seed: int, index: int) -> None:
        self.rng = np.random.default_rng([seed, index])
        self.program = Program(seed, index)
        self.pool: list[Node] = []

    # -- helpers -------------------------------------------------------------------------

    def pick(self, nodes: list[Node] | None = None) -> Node:
        nodes = self.pool if nodes is None else nodes
        # Favour recent nodes, so graphs grow deep rather than wide.
        weights = np.arange(1, len(nodes) + 1, dtype=float) ** 1.5
        return nodes[int(self.rng.choice(len(nodes), p=weights / weights.sum()))]

    def add_input(
        self,
        dtype: str,
        shape: tuple[int, ...],
        static: tuple[int | None, ...],
        draw: Callable[[np.random.Generator], np.ndarray] | None = None,
        pool: bool = True,
    ) -> Node:
        name = f"x{len(self.program.inputs)}"
        node = Node(
            name,
            (),
            lambda: None,
            lambda: None,
            f"T.tensor({dtype!r}, {static!r}, name={name!r})",
            "input",
            var=T.tensor(dtype, static, name=name),
            shape=shape,
        )
        node.draw = draw
        self.program.inputs.append(node)
        if pool:
            self.pool.append(node)
        return node

    def add(
        self,
        operands: tuple[Node | Const, ...],
        build: Callable[..., Variable],
        compute: Callable[..., np.ndarray],
        line: str,
        op: str,
        shape: tuple[int, ...],
        tolerance: str = "exact",
    ) -> Node:
        dtypes = ",".join(str(o.dtype) if isinstance(o, Node) else type(o.value).__name__ for o in operands)
        node = Node(
            f"n{len(self.program.nodes)}",
            operands,
            build,
            compute,
            line,
            f"{op}({dtypes})",
            tolerance,
            shape=shape,
        )
        node.var = build(*[o.var if isinstance(o, Node) else o.value for o in operands])
        assert len(shape) == node.var.type.rank, (
            f"generator bug: {node.source()} has shape {shape}, type {node.var.type}"
        )
        self.program.nodes.append(node)
        self.pool.append(node)
        return node

    def constant(self, like: Node, float_only: bool = False, integral: bool = False) -> Const:
        rng, dtype = self.rng, like.dtype
        if dtype.kind == "f" or float_only or (rng.random() < 0.15 and not integral):
            choices = [0.5, 2.0, -1.5, 3.0, 1e-3, 0.0, -0.0, 1e300, np.inf, -np.inf, np.nan]
            value = float(rng.choice(choices))
            if rng.random() < 0.2:  # a strong numpy scalar
                kind = str(rng.choice(["float32", "float64"]))
                value = np.dtype(kind).type(value)
                return Const(value, f"np.{kind}({float(value)!r})")
            return Const(value, _float_text(value))
        if dtype.kind == "b":
            value = bool(rng.random() < 0.5)
            return Const(value, repr(value))
        info = np.iinfo(dtype)
        value = int(rng.integers(max(info.min, -3), min(info.max, 5), endpoint=True))
        return Const(value, repr(value))

    def array_constant(self, like: Node) -> Const:
        """A numpy array operand (a strong, static-shaped constant), some dimensions of 1."""
        rng = self.rng
        shape = tuple(1 if rng.random() < 0.4 else d for d in like.shape[int(rng.integers(0, 2)) :])
        dtype = str(like.dtype) if rng.random() < 0.6 else str(rng.choice(ref.ALL_DTYPES))
        value = np.asarray(random_values(rng, dtype, shape, 0.0))
        return Const(value, f"np.array({value.tolist()!r}, {dtype!r})")

    # -- the program ---------------------------------------------------------------------

    def generate(self) -> Program:
        rng = self.rng
        rank = int(rng.choice([0, 1, 2, 3], p=[0.08, 0.3, 0.42, 0.2]))
        base = tuple(
            int(rng.choice([0, 1, 2, 3, 4, 5, 7], p=[0.05, 0.1, 0.2, 0.2, 0.2, 0.15, 0.1]))
            for _ in range(rank)
        )
        if rank and rng.random() < 0.08:
            # Now and then one long axis, for the vectorised, row-by-row and threaded loops.
            axis = int(rng.integers(rank))
            rest = int(np.prod([d for i, d in enumerate(base) if i != axis] or [1]))
            long_axis = int(rng.choice([17, 64, 255, 1031, 4099]))
            if rest * long_axis <= 40_000:
                base = base[:axis] + (long_axis,) + base[axis + 1 :]
        for _ in range(int(rng.integers(1, 4))):
            self.random_input(base)
        steps = {
            "unary": 3,
            "binary": 4,
            "compare": 1,
            "logic": 0.6,
            "ternary": 0.6,
            "cast": 1,
            "reduce": 1.3,
            "dot": 0.5,
            "slice": 0.8,
            "advanced": 0.6,
            "shape": 1,
            "construct": 0.5,
        }
        for _ in range(int(rng.integers(1, 13))):
            getattr(self, "step_" + _weighted(rng, steps))()
        made = self.program.nodes
        if not made:
            self.step_unary()
        # Every node without a consumer is an output, so no op is dead code; plus a few used ones.
        used = {id(o) for n in made for o in n.operands}
        outputs = [n for n in made if id(n) not in used]
        outputs = list(dict.fromkeys(outputs))
        outputs += [self.pick(made) for _ in range(int(rng.integers(0, 2)))]
        if rng.random() < 0.05:  # an input returned as it is
            outputs.append(self.pick(self.program.inputs))
        self.program.outputs = outputs
        return self.program

    def random_input(self, base: tuple[int, ...]) -> Node:
        rng = self.rng
        dtype = _weighted(
            rng,
            {
                "float64": 3,
                "float32": 2,
                "int8": 0.6,
                "int16": 0.4,
                "int32": 0.6,
                "int64": 0.8,
                "uint8": 0.6,
                "bool": 0.8,
            },
        )
        rank = int(rng.integers(0, len(base) + 1)) if rng.random() < 0.4 else len(base)
        shape = list(base[len(base) - rank :])
        static: list[int | None] = [None] * rank
        everything_known = rng.random() < 0.12
        for axis in range(rank):
            if rng.random() < 0.25:
                shape[axis], static[axis] = 1, 1
            elif everything_known:
                static[axis] = shape[axis]
        return self.add_input(dtype, tuple(shape), tuple(static))

    def step_unary(self) -> None:
        rng, x = self.rng, self.pick()
        if rng.random() < 0.5:
            name = str(rng.choice(sorted(UNARY_FLOAT)))
            if name == "log" and x.label.startswith(("sigmoid(", "nnet.sigmoid(")):
                # The stabilize pass computes log(sigmoid(u)) as -softplus(-u) on purpose (finite
                # where sigmoid underflows to 0), which numpy's log of sigmoid is not.
                name = "log1p"
            tc_fn, np_fn = UNARY_FLOAT[name]
            line = f"T.{name}({{0}})"
            tolerance = "transcendental" if name in TRANSCENDENTAL else "rounding"
        else:
            name = str(rng.choice(sorted(UNARY_ANY)))
            tc_fn, np_fn, on_bool = UNARY_ANY[name]
            if x.dtype.kind == "b" and not on_bool:
                name, (tc_fn, np_fn, _) = "abs", UNARY_ANY["abs"]
            line = UNARY_LINES.get(name, f"T.{name}({{0}})")
            tolerance = "exact"
        node = self.add((x,), tc_fn, lambda v: v, line, name, x.shape, tolerance)
        out = node.dtype
        node.compute = lambda v: np_fn(ref.as_dtype(v, out)).astype(out)

    def second_operand(self, a: Node, float_only: bool = False) -> Node | Const:
        candidates = [n for n in self.pool if broadcast_shape(a, n) is not None]
        if self.rng.random() < 0.08 and not float_only:
            return self.array_constant(a)
        if self.rng.random() < 0.25 or not candidates:
            return self.constant(a, float_only)
        return self.pick(candidates)

    def binary(self, a: Node, b: Node | Const) -> tuple[Node | Const, ...]:
        return (a, b) if self.rng.random() < 0.75 or isinstance(b, Const) else (b, a)

    def step_binary(self) -> None:
        rng, a = self.rng, self.pick()
        name = str(rng.choice(sorted(BINARY_ARITH)))
        tc_fn, np_fn, float_only = BINARY_ARITH[name]
        b = self.second_operand(a)
        operands = self.binary(a, b)
        kinds = {o.dtype.kind for o in operands if isinstance(o, Node)}
        if isinstance(b, Const):
            kinds.add(
                b.value.dtype.kind
                if isinstance(b.value, np.ndarray)
                else "b"
                if isinstance(b.value, bool)
                else "x"
            )
        if name == "sub" and kinds <= {"b"}:
            name, (tc_fn, np_fn, _) = "add", BINARY_ARITH["add"]
        line = BINARY_LINES.get(name, f"T.{name}({{0}}, {{1}})")
        tolerance = "transcendental" if name in TRANSCENDENTAL else "rounding"
        shape = broadcast_shape(a, b)
        node = self.add(operands, tc_fn, lambda *v: v[0], line, name, shape, tolerance)  # type: ignore[arg-type]
        out = node.dtype
        node.compute = lambda u, v: np.asarray(np_fn(ref.as_dtype(u, out), ref.as_dtype(v, out))).astype(out)

    def step_compare(self) -> None:
        a = self.pick()
        name = str(self.rng.choice(sorted(COMPARISONS)))
        tc_fn, np_fn = COMPARISONS[name]
        b = self.second_operand(a)
        operands = self.binary(a, b)
        line = BINARY_LINES.get(name, f"T.{name}({{0}}, {{1}})")
        self.add(operands, tc_fn, lambda u, v: np.asarray(np_fn(u, v)), line, name, broadcast_shape(a, b))  # type: ignore[arg-type]

    def step_logic(self) -> None:
        rng = self.rng
        integral = [n for n in self.pool if n.dtype.kind in "biu"]
        if not integral:
            return self.step_compare()
        a = self.pick(integral)
        if rng.random() < 0.25:
            node = self.add((a,), lambda v: ~v, np.invert, "~{0}", "invert", a.shape)
            return None
        name = str(rng.choice(sorted(BINARY_LOGIC)))
        tc_fn, np_fn = BINARY_LOGIC[name]
        same_kind = [
            n
            for n in integral
            if broadcast_shape(a, n) is not None and (n.dtype.kind == "b") == (a.dtype.kind == "b")
        ]
        b = self.pick(same_kind) if same_kind and rng.random() < 0.8 else self.constant(a, integral=True)
        node = self.add(
            self.binary(a, b), tc_fn, lambda u, v: u, BINARY_LINES[name], name, broadcast_shape(a, b)
        )  # type: ignore[arg-type]
        out = node.dtype
        node.compute = lambda u, v: np.asarray(np_fn(ref.as_dtype(u, out), ref.as_dtype(v, out)))
        return None

    def step_ternary(self) -> None:
        rng, a = self.rng, self.pick()
        if rng.random() < 0.4:
            if a.dtype.kind == "b":
                return self.step_compare()
            lo, hi = sorted([self.constant(a).value, self.constant(a).value])  # type: ignore[type-var]
            lo_c, hi_c = (
                Const(lo, _float_text(lo) if isinstance(lo, float) else repr(lo)),
                Const(hi, _float_text(hi) if isinstance(hi, float) else repr(hi)),
            )
            node = self.add(
                (a, lo_c, hi_c), T.clip, lambda v, lo, hi: v, "T.clip({0}, {1}, {2})", "clip", a.shape
            )
            out = node.dtype
            node.compute = lambda v, lo, hi: np.minimum(
                np.maximum(ref.as_dtype(v, out), ref.as_dtype(lo, out)), ref.as_dtype(hi, out)
            ).astype(out)
            return None
        b = self.second_operand(a)
        conditions = [
            n
            for n in self.pool
            if n.dtype.kind == "b"
            and broadcast_shape(a, n) is not None
            and (isinstance(b, Const) or broadcast_shape(n, b) is not None)
        ]
        if not conditions:
            return self.step_compare()
        cond = self.pick(conditions)
        name = str(rng.choice(["switch", "where"]))
        shape = np.broadcast_shapes(
            cond.shape, a.shape, np.shape(b.value) if isinstance(b, Const) else b.shape
        )
        node = self.add(
            (cond, a, b), getattr(T, name), lambda c, u, v: u, f"T.{name}({{0}}, {{1}}, {{2}})", name, shape
        )  # type: ignore[arg-type]
        out = node.dtype
        node.compute = lambda c, u, v: np.where(c, ref.as_dtype(u, out), ref.as_dtype(v, out)).astype(out)
        return None

    def step_construct(self) -> None:
        """zeros_like, ones_like, fill, alloc, zeros, ones, arange."""
        rng, x = self.rng, self.pick()
        kind = str(rng.choice(["zeros_like", "ones_like", "fill", "alloc", "zeros", "ones", "arange"]))
        if kind in ("zeros_like", "ones_like"):
            fill_value = 0 if kind == "zeros_like" else 1
            node = self.add((x,), getattr(T, kind), lambda v: v, f"T.{kind}({{0}})", kind, x.shape)
            out, shape = node.dtype, x.shape
            node.shape_only = True
            node.compute = lambda v: np.full(shape, fill_value, out)
        elif kind == "fill":
            value = self.constant(x)
            node = self.add((x, value), T.fill, lambda v, c: v, "T.fill({0}, {1})", kind, x.shape)
            out, shape = node.dtype, x.shape
            node.shape_only = True
            node.compute = lambda v, c: np.full(shape, ref.as_dtype(c, out), out)
        elif kind == "alloc":
            scalars = [n for n in self.pool if not n.shape]
            value: Node | Const = self.pick(scalars) if scalars and rng.random() < 0.7 else self.constant(x)
            shape = tuple(int(d) for d in rng.choice([0, 1, 2, 3, 5], size=int(rng.integers(0, 4))))
            node = self.add(
                (value,),
                lambda v: T.alloc(v, *shape),
                lambda v: v,
                f"T.alloc({{0}}, *{shape!r})",
                kind,
                shape,
            )
            out = node.dtype
            node.compute = lambda v: np.broadcast_to(ref.as_dtype(v, out), shape).copy()
        elif kind in ("zeros", "ones"):
            shape = tuple(int(d) for d in rng.choice([0, 1, 2, 3, 5], size=int(rng.integers(0, 4))))
            dtype = str(rng.choice(ref.ALL_DTYPES))
            node = self.add(
                (),
                lambda: getattr(T, kind)(shape, dtype),
                lambda: None,
                f"T.{kind}({shape!r}, {dtype!r})",
                kind,
                shape,
            )
            node.compute = lambda: np.full(shape, 0 if kind == "zeros" else 1, dtype)
        else:
            start, stop = sorted(int(v) for v in rng.integers(-6, 9, size=2))
            step = int(rng.choice([1, 2, 3, -1, -2]))
            if step < 0:
                start, stop = stop, start
            if rng.random() < 0.15:
                start, stop = stop, start  # an empty range
            length = len(range(start, stop, step))
            node = self.add(
                (),
                lambda: T.arange(start, stop, step),
                lambda: None,
                f"T.arange({start}, {stop}, {step})",
                kind,
                (length,),
            )
            out = node.dtype
            node.compute = lambda: np.arange(start, stop, step).astype(out)

    def step_cast(self) -> None:
        x = self.pick()
        dtype = str(self.rng.choice(ref.ALL_DTYPES))
        self.add(
            (x,),
            lambda v: T.cast(v, dtype),
            lambda v: ref.cast(v, dtype),
            f"T.cast({{0}}, {dtype!r})",
            f"cast->{dtype}",
            x.shape,
        )

    def step_reduce(self) -> None:
        rng, x = self.rng, self.pick()
        kind = str(rng.choice(REDUCTIONS))
        if x.dtype.kind == "b" and kind in ("max", "min"):
            kind = "sum"  # tc refuses max/min of bools by design ("use any/all"); numpy allows them
        rank = len(x.shape)
        keepdims = bool(rng.random() < 0.3)
        axis: int | tuple[int, ...] | None = None
        roll = rng.random()
        if rank and roll < 0.5:
            axis = int(rng.integers(-rank, rank))
        elif rank and roll < 0.75 and not kind.startswith("arg"):
            count = int(rng.integers(1, rank + 1))
            axis = tuple(int(a) for a in rng.permutation(rank)[:count])
        axes = tuple(range(rank)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
        normal = {a % rank for a in axes} if rank else set()
        shape = tuple(1 if a in normal else d for a, d in enumerate(x.shape) if keepdims or a not in normal)
        if kind.startswith("arg") and axis is None and not keepdims:
            shape = ()
        if kind.startswith("arg") and axis is None and keepdims:
            shape = (1,) * rank
        tolerance = {"sum": "sum", "prod": "sum", "mean": "sum", "var": "variance", "std": "variance"}
        node = self.add(
            (x,),
            lambda v: getattr(T, kind)(v, axis=axis, keepdims=keepdims),
            lambda v: v,
            f"T.{kind}({{0}}, axis={axis!r}, keepdims={keepdims})",
            kind,
            shape,
            tolerance.get(kind, "exact"),
        )
        out = node.dtype
        if kind in ("sum", "prod"):

            def compute(v: np.ndarray) -> np.ndarray:
                wide = np.float64 if out.kind == "f" else out
                return getattr(np, kind)(v, axis=axis, keepdims=keepdims, dtype=wide).astype(out)
        elif kind in ("mean", "var", "std"):

            def compute(v: np.ndarray) -> np.ndarray:
                return getattr(ref, kind)(v, axis, keepdims, out)
        else:

            def compute(v: np.ndarray) -> np.ndarray:
                return np.asarray(getattr(np, kind)(v, axis=axis, keepdims=keepdims)).astype(out)

        node.compute = compute

    def step_dot(self) -> None:
        rng = self.rng
        candidates = [n for n in self.pool if len(n.shape) in (1, 2)]
        if not candidates:
            return self.step_unary()
        a = self.pick(candidates)
        inner = a.shape[-1]
        dtype = str(a.dtype) if rng.random() < 0.6 else str(rng.choice(["float64", "float32", "int32"]))
        other_rank = int(rng.integers(1, 3))
        left = rng.random() < 0.3  # the new operand on the left: b . a
        if left:
            inner = a.shape[0]
            shape = (inner,) if other_rank == 1 else (int(rng.choice([1, 2, 3, 5])), inner)
        else:
            shape = (inner,) if other_rank == 1 else (inner, int(rng.choice([1, 2, 3, 5])))
        b = self.add_input(dtype, shape, (None,) * len(shape), pool=False)
        operands = (b, a) if left else (a, b)
        rows = operands[0].shape[:-1]
        cols = operands[1].shape[1:] if len(operands[1].shape) == 2 else ()
        node = self.add(operands, T.dot, lambda u, v: u, "T.dot({0}, {1})", "dot", rows + cols, "sum")
        out = node.dtype
        node.compute = lambda u, v: ref.dot(ref.as_dtype(u, out), ref.as_dtype(v, out)).astype(out)
        return None

    def scalar_index_input(self, extent: int, margin: int) -> Node:
        dtype = str(self.rng.choice(["int64", "int32", "int8"]))
        lo, hi = max(-extent - margin, -100), min(extent + margin, 100)
        draw = lambda rng: np.asarray(rng.integers(lo, hi, endpoint=True), dtype)  # noqa: E731
        return self.add_input(dtype, (), (), draw, pool=False)

    def step_slice(self) -> None:
        rng = self.rng
        candidates = [n for n in self.pool if n.shape]
        if not candidates:
            return self.step_unary()
        x = self.pick(candidates)
        count = int(rng.integers(1, len(x.shape) + 1))
        items: list[Any] = []  # ints, slices, or Nodes (symbolic scalars)
        for axis in range(count):
            extent = x.shape[axis]
            roll = rng.random()
            if roll < 0.15 and extent > 0:
                items.append(int(rng.integers(-extent, extent)))
            elif roll < 0.22:
                items.append(self.scalar_index_input(extent, 1))
            else:
                parts: list[Any] = []
                for _bound in ("start", "stop"):
                    r = rng.random()
                    if r < 0.3:
                        parts.append(None)
                    elif r < 0.45:
                        parts.append(self.scalar_index_input(extent, 3))
                    else:
                        parts.append(int(rng.integers(-extent - 2, extent + 3)))
                parts.append(rng.choice([None, 1, 2, 3, -1, -2, -3]))
                parts[2] = None if parts[2] is None else int(parts[2])
                items.append(slice(*parts))
        symbols = [n for n in _flatten_items(items) if isinstance(n, Node)]
        # The concrete shape depends on the symbolic bounds' values: pin them to one draw each.
        pinned = {id(n): int(n.draw(np.random.default_rng(int(rng.integers(2**31))))) for n in symbols}  # type: ignore[misc]
        for n in symbols:
            n.draw = _constant_draw(pinned[id(n)], str(n.dtype))
        key = _key(items, pinned)
        shape = tuple(
            len(range(*item.indices(extent)))
            for item, extent in zip(key, x.shape[: len(key)], strict=True)
            if isinstance(item, slice)
        )
        shape += x.shape[len(key) :]
        node = self.add(
            (x, *symbols),
            lambda v, *s: v[_key(items, {id(a): b for a, b in zip(symbols, s, strict=True)})],
            lambda v, *s: v,
            "{0}[" + _items_text(items, symbols) + "]",
            "slice",
            shape,
        )
        node.compute = lambda v, *s: v[_key(items, {id(a): int(b) for a, b in zip(symbols, s, strict=True)})]
        return None

    def step_advanced(self) -> None:
        rng = self.rng
        candidates = [n for n in self.pool if n.shape]
        if not candidates:
            return self.step_unary()
        x = self.pick(candidates)
        length = int(rng.choice([0, 1, 2, 3, 5], p=[0.05, 0.2, 0.3, 0.3, 0.15]))
        dtype = str(rng.choice(["int64", "int32", "int8", "uint8"], p=[0.5, 0.3, 0.1, 0.1]))

        def index_input(axis: int) -> Node:
            extent = x.shape[axis]
            chosen = "int64" if dtype == "uint8" else dtype  # uint8 cannot hold negative indices
            draw = lambda r: index_values(r, chosen, length, extent)  # noqa: E731
            return self.add_input(chosen, (length,), (None,), draw, pool=False)

        # x[:, i] (a slice before an index array) is refused by design; T.take covers it. numpy's
        # take checks no index when the result is empty, its indexing does (as tc): the
        # reference indexes.
        form = str(rng.choice(["first", "full-slices", "pair", "take"]))
        rank = len(x.shape)
        if form == "full-slices" and rank >= 2:
            idx = index_input(0)
            shape = (length, *x.shape[1:])
            self.add((x, idx), lambda v, i: v[i, :], lambda v, i: v[i, :], "{0}[{1}, :]", "index[i,:]", shape)
        elif form == "pair" and rank >= 2:
            i, j = index_input(0), index_input(1)
            shape = (length, *x.shape[2:])
            self.add(
                (x, i, j),
                lambda v, a, b: v[a, b],
                lambda v, a, b: v[a, b],
                "{0}[{1}, {2}]",
                "index[i,j]",
                shape,
            )
        elif form == "take":
            axis = int(rng.integers(0, rank))
            idx = index_input(axis)
            shape = x.shape[:axis] + (length,) + x.shape[axis + 1 :]
            self.add(
                (x, idx),
                lambda v, i: T.take(v, i, axis=axis),
                lambda v, i: v[(slice(None),) * axis + (i,)],
                f"T.take({{0}}, {{1}}, axis={axis})",
                "take",
                shape,
            )
        else:
            idx = index_input(0)
            self.add(
                (x, idx), lambda v, i: v[i], lambda v, i: v[i], "{0}[{1}]", "index[i]", (length, *x.shape[1:])
            )

    def step_shape(self) -> None:
        rng, x = self.rng, self.pick()
        kind = str(rng.choice(["reshape", "flatten", "dimshuffle", "transpose", "concatenate", "stack"]))
        rank = len(x.shape)
        if kind == "reshape":
            size = int(np.prod(x.shape, dtype=np.int64))
            new = _factorise(rng, size)
            if size > 0 and rng.random() < 0.3:
                new[int(rng.integers(0, len(new)))] = -1
            target = tuple(new)
            shape = np.empty(x.shape, np.int8).reshape(target).shape
            self.add(
                (x,),
                lambda v: v.reshape(target),
                lambda v: v.reshape(target),
                f"{{0}}.reshape({target!r})",
                "reshape",
                shape,
            )
        elif kind == "flatten" and rank >= 1:
            ndim = int(rng.integers(1, rank + 1))
            shape = ref.flatten(np.empty(x.shape, np.int8), ndim).shape
            self.add(
                (x,),
                lambda v: T.flatten(v, ndim),
                lambda v: ref.flatten(v, ndim),
                f"T.flatten({{0}}, {ndim})",
                "flatten",
                shape,
            )
        elif kind == "dimshuffle":
            kept = [int(a) for a in rng.permutation(rank) if not (x.static[a] == 1 and rng.random() < 0.5)]
            pattern: list[Any] = list(kept)
            for _ in range(int(rng.integers(0, 3))):
                pattern.insert(int(rng.integers(0, len(pattern) + 1)), "x")
            pat = tuple(pattern)
            shape = ref.dimshuffle(np.empty(x.shape, np.int8), pat).shape
            self.add(
                (x,),
                lambda v: v.dimshuffle(*pat),
                lambda v: ref.dimshuffle(v, pat),
                f"{{0}}.dimshuffle{pat!r}" if len(pat) != 1 else f"{{0}}.dimshuffle({pat[0]!r})",
                "dimshuffle",
                shape,
            )
        elif kind == "transpose" and rank >= 1:
            axes = tuple(int(a) for a in rng.permutation(rank))
            shape = tuple(x.shape[a] for a in axes)
            self.add(
                (x,),
                lambda v: T.transpose(v, axes),
                lambda v: v.transpose(axes),
                f"T.transpose({{0}}, {axes!r})",
                "transpose",
                shape,
            )
        elif kind == "concatenate" and rank >= 1:
            axis = int(rng.integers(0, rank))
            others = [
                n
                for n in self.pool
                if len(n.shape) == rank
                and all(
                    (n.shape[d] == x.shape[d] and (n.static[d] == 1) == (x.static[d] == 1)) or d == axis
                    for d in range(rank)
                )
            ]
            y = self.pick(others) if others and rng.random() < 0.7 else x
            shape = tuple(d + y.shape[a] if a == axis else d for a, d in enumerate(x.shape))
            node = self.add(
                (x, y),
                lambda u, v: T.concatenate([u, v], axis=axis),
                lambda u, v: u,
                f"T.concatenate([{{0}}, {{1}}], axis={axis})",
                "concatenate",
                shape,
            )
            out = node.dtype
            node.compute = lambda u, v: np.concatenate(
                [ref.as_dtype(u, out), ref.as_dtype(v, out)], axis=axis
            )
        else:
            axis = int(rng.integers(0, rank + 1))
            others = [n for n in self.pool if n.shape == x.shape and n.static == x.static]
            y = self.pick(others) if rng.random() < 0.7 else x
            shape = x.shape[:axis] + (2,) + x.shape[axis:]
            node = self.add(
                (x, y),
                lambda u, v: T.stack([u, v], axis=axis),
                lambda u, v: u,
                f"T.stack([{{0}}, {{1}}], axis={axis})",
                "stack",
                shape,
            )
            out = node.dtype
            node.compute = lambda u, v: np.stack([ref.as_dtype(u, out), ref.as_dtype(v, out)], axis=axis)


def _factorise(rng: np.random.Generator, size: int) -> list[int]:
    if size == 0:
        return [0, int(rng.integers(1, 4))] if rng.random() < 0.5 else [0]
    parts, rest = [], size
    for _ in range(int(rng.integers(0, 3))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = int(rng.choice(divisors))
        parts.append(d)
        rest //= d
    return [*parts, rest]


def _flatten_items(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out.extend([item.start, item.stop] if isinstance(item, slice) else [item])
    return out


def _key(items: list[Any], bound: dict[int, Any]) -> tuple[Any, ...]:
    value = lambda v: bound[id(v)] if isinstance(v, Node) else v  # noqa: E731
    return tuple(
        slice(value(i.start), value(i.stop), i.step) if isinstance(i, slice) else value(i) for i in items
    )


def _constant_draw(value: int, dtype: str) -> Callable[[np.random.Generator], np.ndarray]:
    return lambda rng: np.asarray(value, dtype)


def _items_text(items: list[Any], symbols: list[Node]) -> str:
    def text(v: Any) -> str:
        if isinstance(v, Node):
            return f"{{{1 + symbols.index(v)}}}"
        return "" if v is None else repr(v)

    parts = []
    for item in items:
        if isinstance(item, slice):
            parts.append(f"{text(item.start)}:{text(item.stop)}" + (f":{item.step}" if item.step else ""))
        else:
            parts.append(text(item))
    return ", ".join(parts)


def _float_text(value: float) -> str:
    if np.isnan(value):
        return "np.nan"
    if np.isinf(value):
        return "np.inf" if value > 0 else "-np.inf"
    return repr(float(value))


def generate(seed: int, index: int) -> Program:
    """Program number `index` of the stream `seed`."""
    return Generator(seed, index).generate()
