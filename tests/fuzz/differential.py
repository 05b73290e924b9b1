"""Run one random program four ways and compare each with numpy.

The engines:
- `native`: `tc.function` (the default pass pipeline, LLVM O3);
- `native-O0`: the same graph with no tc pass but `fuse` (the CPU backend
  lowers fused kernels only) and LLVM at O0;
- `interp`: the IR interpreter on the graph as built, before any pass;
- `interp-opt`: the interpreter on the optimised, fused IR `tc.function` compiled.

Each is compared with numpy's value (graphs.evaluate). A mismatch of a whole
program is first localised: every node is made an output, and each op is
compared with numpy applied to tc's own values of its operands, so the
report names the one op that is wrong and a one-op reproducer. A difference
that no single op explains, in float values only, is rounding error
amplified along the graph (`x - y` of nearly equal values, `tan` near a pole)
and is counted, not reported.

Any exception tc raises must derive from tc.TcError; numpy raising (the max of
an empty axis, an index out of range) must be matched by tc raising a TcError.
"""

from __future__ import annotations

import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from arguments import draw_arguments
from graphs import Node, Program, evaluate, generate

import tc
from tc.callables import make_functions
from tc.compile import shape_plan
from tc.frontend.lower import build_function, build_function_ir
from tc.ir import print_module, run_function
from tc.object_cache import native_code
from tc.optimized import OptimizedModule
from tc.passes import PassManager, parse_pipeline

# Relative tolerances per dtype and op class; see the module docstring of graphs for exclusions.
RTOL = {
    "float64": {
        "exact": 0.0,
        "rounding": 4.5e-16,
        "transcendental": 1e-12,
        "sum": 1e-12,
        "variance": 1e-10,
        "program": 1e-9,
    },
    # float32 sums add in blocks with a float64 total (numpy: pairwise); the orders differ.
    "float32": {
        "exact": 0.0,
        "rounding": 2.4e-7,
        "transcendental": 1e-5,
        "sum": 1e-5,
        "variance": 1e-4,
        "program": 1e-4,
    },
}
CALLS_PER_PROGRAM = 3
BAD_CALL_SHARE = 0.2  # programs also called once with a wrong argument
BAD_ARGUMENTS = (
    "rank+1",
    "rank-1",
    "static-size",
    "complex",
    "float16",
    "object",
    "string",
    "none",
    "nested-list",
    "missing",
    "extra",
    "keyword",
)


@dataclass
class Finding:
    """One failure: its kind, the engine, a label for deduplication, and a reproducer."""

    kind: str  # crash | wrong | internal_error
    engine: str
    label: str
    message: str
    reproducer: str
    seed: int = 0
    index: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Outcome:
    """What running one program found."""

    findings: list[Finding] = field(default_factory=list)
    rejected: str | None = None  # tc refused to build the graph (a TcError): not a failure
    amplified: int = 0  # float differences no single op explains
    amplified_example: str = ""  # the first of them, for a reviewer to judge
    calls: int = 0


class _TcRaised(Exception):
    """Wraps an exception raised by an engine, to compare it with numpy's."""

    def __init__(self, error: BaseException, trace: str) -> None:
        super().__init__(str(error))
        self.error, self.trace = error, trace


def compile_unoptimized(inputs: list[Any], outputs: list[Any]) -> Any:
    """`tc.function` with no pass but `fuse`, and LLVM at O0."""
    module = build_function("f", inputs, outputs).module
    stages = {"tir": print_module(module)}
    plans = {fn.name: shape_plan(module, fn) for fn in module.functions}
    stages["tir-planned"] = stages["tir"]
    PassManager(parse_pipeline(["fuse"])).run(module)
    stages["tir-opt"] = print_module(module)
    optimized = OptimizedModule.of(module)
    native = native_code(optimized, stages["tir-opt"], opt_level=0)
    stages.update(native.stages)
    return make_functions(optimized, native, plans, stages, {"f": False})["f"]


def compile_native(inputs: list[Any], outputs: list[Any]) -> Any:
    return tc.function(inputs, list(outputs), on_unused_input="ignore")


def _call(fn: Any, args: list[np.ndarray]) -> list[np.ndarray]:
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            result = fn(*args)
    except Exception as err:  # noqa: BLE001 - every exception is classified by the caller
        raise _TcRaised(err, _trace()) from None
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _trace() -> str:
    """The end of the current traceback: where the exception was raised."""
    return "".join(traceback.format_exc().splitlines(keepends=True)[-12:])


def compare(
    got: np.ndarray, want: np.ndarray, dtype: np.dtype, tolerance: str, scale: float = 0.0
) -> str | None:
    """None when `got` is `want` within the tolerance class, else what differs."""
    got = np.asarray(got)
    if got.dtype != dtype:
        return f"dtype {got.dtype}, expected {dtype}"
    if got.shape != want.shape:
        return f"shape {got.shape}, expected {want.shape}"
    if dtype.kind != "f":
        bad = got != want
        if bad.any():
            return _describe(got, want, bad)
        return None
    want = want.astype(dtype)
    rtol = RTOL[str(dtype)][tolerance]
    info = np.finfo(dtype)
    if tolerance in ("sum", "variance") and not scale < float(info.max) / 16:
        # Exclusion: terms near overflow make a sum, dot or variance depend on the order and
        # precision of accumulation (numpy's float32 var of [-3e38] * 3 is inf, the exact one 0).
        return None
    atol = (
        0.0 if tolerance == "exact" else (info.smallest_subnormal if tolerance == "rounding" else info.tiny)
    )
    atol = max(atol, rtol * scale)
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    bad = nan_got != nan_want
    both = ~(nan_got | nan_want)
    with np.errstate(all="ignore"):
        g, w = got.astype(np.float64), want.astype(np.float64)
        infinite = both & (np.isinf(g) | np.isinf(w))
        bad |= infinite & (g != w)
        finite = both & ~infinite
        bad |= finite & (np.abs(g - w) > atol + rtol * np.abs(w))
    if bad.any():
        return _describe(got, want, bad)
    return None


def _describe(got: np.ndarray, want: np.ndarray, bad: np.ndarray) -> str:
    where = np.argwhere(bad)[:3]
    parts = [f"at {tuple(int(i) for i in w)}: got {got[tuple(w)]!r}, numpy {want[tuple(w)]!r}" for w in where]
    return f"{int(bad.sum())} of {bad.size} elements differ; " + "; ".join(parts)


def array_text(value: np.ndarray, limit: int = 400) -> str:
    """Python text that rebuilds `value` exactly (its dtype, shape and bits)."""
    value = np.asarray(value)
    if value.size > limit:
        raw = value.tobytes().hex()
        return f"np.frombuffer(bytes.fromhex({raw!r}), {str(value.dtype)!r}).reshape({value.shape})"

    def item(v: Any) -> str:
        if isinstance(v, float):
            if np.isnan(v):
                return "np.nan"
            if np.isinf(v):
                return "np.inf" if v > 0 else "-np.inf"
        return repr(v)

    def nested(v: Any) -> str:
        return "[" + ", ".join(nested(x) for x in v) + "]" if isinstance(v, list) else item(v)

    text = nested(value.tolist())
    if value.size == 0:
        return f"np.zeros({value.shape}, {str(value.dtype)!r})"
    return f"np.array({text}, {str(value.dtype)!r})"


def reproducer(program: Program, values: list[np.ndarray], layouts: str, note: str = "") -> str:
    args = ", ".join(array_text(v) for v in values)
    return f"{program.source()}\nf({args})  # layouts {layouts}{note}"


class ProgramRunner:
    """Compiles a program with every engine once, then calls it on several argument draws."""

    def __init__(self, program: Program, engines: tuple[str, ...], o0_every: int = 1) -> None:
        self.program = program
        self.engines = engines
        self.o0_every = o0_every  # compile at O0 only every n-th program: compiling is most of the time
        self.outcome = Outcome()
        self.rng = np.random.default_rng([program.seed, program.index, 1])

    def finding(self, kind: str, engine: str, label: str, message: str, text: str) -> None:
        self.outcome.findings.append(
            Finding(kind, engine, label, message, text, self.program.seed, self.program.index)
        )

    def run(self) -> Outcome:
        program = self.program
        inputs = [n.var for n in program.inputs]
        outputs = [n.var for n in program.outputs]
        compiled: dict[str, Any] = {}
        builders = {"native": compile_native, "native-O0": compile_unoptimized}
        for engine in ("native", "native-O0"):
            if engine not in self.engines or (engine == "native-O0" and program.index % self.o0_every):
                continue
            try:
                compiled[engine] = builders[engine](inputs, outputs)
            except tc.TcError as err:
                self.finding(
                    "wrong",
                    engine,
                    "compile:" + type(err).__name__,
                    f"{type(err).__name__}: {err}",
                    program.source(),
                )
                return self.outcome
            except Exception as err:  # noqa: BLE001
                self.finding(
                    "internal_error", engine, f"compile:{type(err).__name__}", _trace(), program.source()
                )
                return self.outcome
        engines = self.engines
        if "interp" in engines:
            compiled["interp"] = build_function_ir("f", inputs, outputs).functions[0]
        if "interp-opt" in engines and "native" in compiled:
            compiled["interp-opt"] = compiled["native"].ir_function("tir-opt")
        for _ in range(CALLS_PER_PROGRAM):
            self.call_once(compiled)
        if "native" in compiled and self.rng.random() < BAD_CALL_SHARE:
            self.bad_call(compiled["native"])
        return self.outcome

    def bad_call(self, fn: Any) -> None:
        """Call with one argument wrong (rank, dtype, size, kind) or the wrong number of them:
        tc may convert what it can without loss, but any exception must be a TcError."""
        program, rng = self.program, self.rng
        values, _, _ = draw_arguments(program, rng)
        position = int(rng.integers(len(values)))
        value = values[position]
        static = program.inputs[position].static
        how = str(rng.choice(BAD_ARGUMENTS))
        args: list[Any] = list(values)
        kwargs: dict[str, Any] = {}
        if how == "rank+1":
            args[position] = value[..., None]
        elif how == "rank-1":
            args[position] = np.zeros(value.shape[1:], value.dtype) if value.ndim else value[None]
        elif how == "static-size" and 1 in static:
            args[position] = np.concatenate([value, value], axis=static.index(1))
        elif how == "complex":
            args[position] = value.astype(np.complex128)
        elif how == "float16":
            args[position] = value.astype(np.float16)
        elif how == "object":
            args[position] = value.astype(object)
        elif how == "string":
            args[position] = "text"
        elif how == "none":
            args[position] = None
        elif how == "nested-list":
            args[position] = [value.tolist(), value.tolist()]
        elif how == "missing":
            args.pop()
        elif how == "extra":
            args.append(value)
        elif how == "keyword":
            kwargs["no_such_input"] = value
        text = f"{program.source()}\n# called with argument {position} changed: {how}"
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                fn(*args, **kwargs)
        except tc.TcError:
            pass
        except Exception as err:  # noqa: BLE001 - the contract: only TcErrors
            self.finding(
                "internal_error", "native", f"bad-argument:{how}:{type(err).__name__}", _trace(), text
            )

    def call_once(self, compiled: dict[str, Any]) -> None:
        program = self.program
        values, passed, layouts = draw_arguments(program, self.rng)
        self.outcome.calls += 1
        may_raise = False  # numpy fails only on values that outputs read just the shape of
        try:
            env = evaluate(program, values, program.outputs)
            want: list[np.ndarray] | Exception = [env[id(n)] for n in program.outputs]
        except (ValueError, IndexError, ZeroDivisionError) as err:
            want = err
            try:
                # tc, like Theano, need not compute a value no output reads (zeros_like(x) reads
                # x's shape), so an engine may fail on it or skip it: both are right.
                env = evaluate(program, values, program.outputs, values_only=True)
                want, may_raise = [env[id(n)] for n in program.outputs], True
            except (ValueError, IndexError, ZeroDivisionError):
                pass
        for engine, fn in compiled.items():
            args = passed if engine.startswith("native") else values
            try:
                if engine.startswith("interp"):
                    got = _call(lambda *a, fn=fn: run_function(fn, *a), args)
                else:
                    got = _call(fn, args)
            except _TcRaised as raised:
                if not (may_raise and isinstance(raised.error, tc.TcError)):
                    self.raised(engine, raised, want, values, layouts)
                continue
            if isinstance(want, Exception):
                self.finding(
                    "wrong",
                    engine,
                    "no-error:" + type(want).__name__,
                    f"numpy raised {type(want).__name__}: {want}; tc returned a result",
                    reproducer(program, values, layouts),
                )
                continue
            self.check_results(engine, got, want, env, values, passed, layouts)

    def raised(
        self, engine: str, raised: _TcRaised, want: Any, values: list[np.ndarray], layouts: str
    ) -> None:
        error = raised.error
        text = reproducer(self.program, values, layouts)
        if not isinstance(error, tc.TcError):
            self.finding("internal_error", engine, f"call:{type(error).__name__}", raised.trace, text)
        elif not isinstance(want, Exception):
            self.finding(
                "wrong",
                engine,
                f"unexpected:{type(error).__name__}",
                f"{type(error).__name__}: {error}",
                text,
            )

    def check_results(
        self,
        engine: str,
        got: list[np.ndarray],
        want: list[np.ndarray],
        env: dict[int, np.ndarray],
        values: list[np.ndarray],
        passed: list[np.ndarray],
        layouts: str,
    ) -> None:
        program = self.program
        for node, g, w in zip(program.outputs, got, want, strict=True):
            scale = _scale(program, node, env)
            problem = (
                compare(g, w, node.dtype, "program", scale)
                if node.dtype.kind == "f"
                else compare(g, w, node.dtype, "exact")
            )
            if problem is None:
                continue
            structural = np.asarray(g).shape != w.shape or np.asarray(g).dtype != node.dtype
            local = self.localise(engine, values, passed)
            if local is not None:
                self.outcome.findings.append(local)
            elif structural or not any(n.tolerance != "exact" for n in program.reachable([node])):
                # Only an exact computation must match exactly when no single op is wrong; a cast
                # or comparison of a rounded float may differ (cast(cosh(x)) at 1e17 differs by 16).
                self.finding(
                    "wrong",
                    engine,
                    f"program:{node.label}",
                    f"output {node.name}: {problem}",
                    reproducer(program, values, layouts),
                )
            else:
                self.outcome.amplified += 1
                if not self.outcome.amplified_example:
                    text = reproducer(program, values, layouts)
                    self.outcome.amplified_example = f"output {node.name}: {problem}\n{text}"
            return

    def localise(self, engine: str, values: list[np.ndarray], passed: list[np.ndarray]) -> Finding | None:
        """The first op whose tc value differs from numpy applied to tc's values of its operands."""
        program = self.program
        nodes = program.nodes
        inputs, outputs = [n.var for n in program.inputs], [n.var for n in nodes]
        try:
            if engine == "interp":
                interpreted = build_function_ir("f", inputs, outputs).functions[0]
                got = _call(lambda *a: run_function(interpreted, *a), values)
            elif engine == "interp-opt":
                optimised = compile_native(inputs, outputs).ir_function("tir-opt")
                got = _call(lambda *a: run_function(optimised, *a), values)
            else:
                build = compile_native if engine == "native" else compile_unoptimized
                got = _call(build(inputs, outputs), passed)
        except Exception:  # noqa: BLE001 - the whole program's failure is reported instead
            return None
        env: dict[int, np.ndarray] = {id(n): v for n, v in zip(program.inputs, values, strict=True)}
        env.update({id(n): np.asarray(v) for n, v in zip(nodes, got, strict=True)})
        for node in nodes:
            operands = [env[id(o)] if isinstance(o, Node) else o.value for o in node.operands]
            try:
                with np.errstate(all="ignore"):
                    want = np.asarray(node.compute(*operands))
            except (ValueError, IndexError):
                continue
            problem = compare(env[id(node)], want, node.dtype, node.tolerance, _op_scale(node, operands))
            if problem is not None:
                return self.one_op_finding(engine, node, operands, problem)
        return None

    def one_op_finding(self, engine: str, node: Node, operands: list[Any], problem: str) -> Finding:
        """A reproducer of `node` alone on the operand values that showed the difference."""
        names = [f"x{i}" for i in range(len(operands))]
        lines, args, k = [], [], 0
        for operand, value in zip(node.operands, operands, strict=True):
            if isinstance(operand, Node):
                var = operand.var
                name = names[k]
                lines.append(
                    f"{name} = T.tensor({str(operand.dtype)!r}, {tuple(var.type.shape)!r}, name={name!r})"
                )
                args.append(array_text(value))
                k += 1
        operand_names = []
        k = 0
        for operand in node.operands:
            if isinstance(operand, Node):
                operand_names.append(names[k])
                k += 1
            else:
                operand_names.append(operand.text)
        lines.append("y = " + node.line.format(*operand_names))
        lines.append(f"f = tc.function([{', '.join(names[:k])}], y)")
        lines.append(f"f({', '.join(args)})  # {problem}")
        if engine == "native-O0":
            lines.append("# compiled with differential.compile_unoptimized (tests/fuzz) (fuse only, LLVM O0)")
        elif engine.startswith("interp"):
            stage = "as built" if engine == "interp" else "after the passes"
            lines.append(f"# {engine}: tc.ir.run_function on the IR {stage}")
        return Finding(
            "wrong", engine, node.label, problem, "\n".join(lines), self.program.seed, self.program.index
        )


def _scale(program: Program, node: Node, env: dict[int, np.ndarray]) -> float:
    """The largest finite magnitude the computation of `node` passes through."""
    biggest = 0.0
    for n in [*program.reachable([node]), *program.inputs]:
        value = env.get(id(n))
        if value is not None and value.dtype.kind in "fiu" and value.size:
            finite = (
                np.abs(value[np.isfinite(value)].astype(np.float64))
                if value.dtype.kind == "f"
                else np.abs(value.astype(np.float64))
            )
            if finite.size:
                biggest = max(biggest, float(finite.max()))
    return biggest


def _op_scale(node: Node, operands: list[Any]) -> float:
    """For sums, products and variances: how big the terms are (cancellation makes the
    result small while its rounding error stays the terms' size)."""
    if node.tolerance not in ("sum", "variance") or not operands:
        return 0.0
    magnitudes = []
    for value in operands:
        array = np.asarray(value)
        array = array.astype(np.float64) if array.dtype.kind != "b" else array.astype(np.float64)
        finite = array[np.isfinite(array)]
        magnitudes.append(float(np.abs(finite).max()) if finite.size else 0.0)
    count = max(1, max(np.asarray(v).size for v in operands))
    with np.errstate(over="ignore"):
        if node.label.startswith("dot("):
            return float(np.prod(magnitudes)) * count
        if node.label.startswith("prod("):  # an overflow midway makes the order matter (inf * 0)
            return float(np.float64(max(magnitudes, default=0.0)) ** count) if magnitudes else 0.0
        biggest = max(magnitudes)
        return biggest * biggest * count if node.tolerance == "variance" else biggest * count


def run_program(
    seed: int, index: int, engines: tuple[str, ...], o0_every: int = 1
) -> tuple[Program | None, Outcome]:
    """Generate and run program `index` of stream `seed`."""
    try:
        program = generate(seed, index)
    except tc.TcError as err:
        return None, Outcome(rejected=f"{type(err).__name__}: {str(err).splitlines()[0][:160]}")
    except Exception:  # noqa: BLE001 - building the graph must only raise TcErrors
        outcome = Outcome()
        outcome.findings.append(
            Finding(
                "internal_error",
                "build",
                "build",
                _trace(),
                f"graphs.generate({seed}, {index})",
                seed,
                index,
            )
        )
        return None, outcome
    return program, ProgramRunner(program, engines, o0_every).run()
