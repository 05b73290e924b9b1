"""tc's CUDA backend against a device copy, PyTorch, CuPy and JAX, on one GPU.

    python bench/gpu.py [--quick] [--only NAME]

Cases (all data already on the device; inputs and outputs stay there):
  - the seed f(x) = sin(x)**2 + cos(x)**2 on 2^26 float32 and 2^25 float64 elements,
    against a device-to-device copy of the same bytes, torch eager, torch.compile,
    cupy.fuse, a CuPy ElementwiseKernel and jax.jit; GB/s counts bytes read + written;
  - 2^26 float32 uniforms: tc's Philox RandomStreams against torch.Tensor.uniform_ and CuPy;
  - a 4096 x 4096 float32 product, TF32 off everywhere: tc's T.dot against cupy.matmul
    (cuBLAS) and torch.matmul;
  - a training step with the batch on the device and W, b in shared variables: logistic
    regression 784 -> 10 and an MLP 784-500-10 (tanh), batch 512, float32, softmax
    cross-entropy, SGD; tc against a jax.jit step and a torch eager step.

Times are the median of 20 intervals between CUDA events recorded around each call on the
default stream ("ms"), after warm-up; "wall" is the mean host time per call of 20 calls in a
row followed by one device synchronisation (JAX gets only that, ended by block_until_ready,
since its work runs on its own streams). Ratios ("vs") divide each time by the reference
of the case, measured in the same run: the copy, torch.Tensor.uniform_, cupy.matmul, torch
eager. A peer that is not installed, or fails, is a row with a note; each case is
independent. Without a GPU the script prints "no GPU: skipped" and exits 0.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from harness import machine_note, optional_import  # noqa: E402

REPEAT = 20
WARMUP = 3
BUDGET_S = 150.0  # no case starts after this: the script must end inside 3 minutes
TORCH_COMPILE_BY_S = 75.0  # torch.compile (tens of seconds to compile) only while the run is young
STARTED = time.perf_counter()

# --- tc's device API, in one place while it settles -----------------------------------------------


def tc_function(inputs: list[Any], outputs: Any, **kwargs: Any) -> Any:
    """A tc function compiled for the GPU."""
    import tc

    return tc.function(inputs, outputs, device="cuda", **kwargs)


def tc_shared(value: np.ndarray, name: str) -> Any:
    """A shared variable that the CUDA functions using it keep on the device."""
    import tc

    return tc.shared(value, name=name, device="cuda")


def tc_device_call(f: Any, *arrays: Any) -> Any:
    """Call `f` on device arrays (objects with __cuda_array_interface__) and get device outputs,
    with no host copy either way."""
    f.outputs_on_device = True
    return f(*arrays)


# --- arrays and timing ----------------------------------------------------------------------------


def to_host(value: Any) -> Any:
    """A numpy copy of a result: cupy, torch, JAX, numpy or any __cuda_array_interface__ object."""
    if isinstance(value, (list, tuple)):
        return [to_host(v) for v in value]
    if isinstance(value, np.ndarray) or np.isscalar(value):
        return np.asarray(value)
    module = type(value).__module__.split(".")[0]
    if module == "cupy":
        return value.get()
    if module == "torch":
        return value.detach().cpu().numpy()
    if hasattr(value, "__cuda_array_interface__"):
        import cupy

        return cupy.asarray(value).get()
    return np.asarray(value)


@dataclass
class Row:
    case: str
    name: str
    seconds: float | None = None  # CUDA-event median per call
    wall: float | None = None  # host seconds per call, pipelined
    rate: str = ""
    note: str = ""

    @property
    def best(self) -> float | None:
        return self.seconds if self.seconds is not None else self.wall


class Gpu:
    """CUDA events, synchronisation and arrays through CuPy, else PyTorch."""

    def __init__(self, cupy: Any, torch: Any) -> None:
        self.cupy, self.torch = cupy, torch

    def synchronize(self) -> None:
        if self.cupy is not None:
            self.cupy.cuda.runtime.deviceSynchronize()
        else:
            self.torch.cuda.synchronize()

    def event(self) -> Any:
        if self.cupy is not None:
            return self.cupy.cuda.Event()
        return self.torch.cuda.Event(enable_timing=True)

    def elapsed_ms(self, start: Any, end: Any) -> float:
        if self.cupy is not None:
            return float(self.cupy.cuda.get_elapsed_time(start, end))
        return float(start.elapsed_time(end))

    def name(self) -> str:
        if self.torch is not None:
            return str(self.torch.cuda.get_device_name(0))
        props = self.cupy.cuda.runtime.getDeviceProperties(0)
        return props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])

    def measure(
        self, fn: Callable[[], Any], block: Callable[[Any], Any] | None = None, events: bool = True
    ) -> tuple[float | None, float]:
        """(median event seconds or None, pipelined wall seconds) per call of fn."""
        for _ in range(WARMUP):
            result = fn()
        if block is not None:
            block(result)
        self.synchronize()
        median = None
        if events:
            pairs = [(self.event(), self.event()) for _ in range(REPEAT)]
            for start, end in pairs:
                start.record()
                fn()
                end.record()
            pairs[-1][1].synchronize()
            self.synchronize()
            median = statistics.median(self.elapsed_ms(s, e) for s, e in pairs) / 1e3
        started = time.perf_counter()
        for _ in range(REPEAT):
            result = fn()
        if block is not None:
            block(result)
        self.synchronize()
        return median, (time.perf_counter() - started) / REPEAT


def find_gpu() -> Gpu | None:
    os.environ.setdefault("CUPY_TF32", "0")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # leave memory to the others
    cupy = optional_import("cupy")
    if cupy is not None:
        try:
            if cupy.cuda.runtime.getDeviceCount() < 1:
                cupy = None
        except Exception:  # no driver, no device
            cupy = None
    torch = optional_import("torch")
    if torch is not None and not torch.cuda.is_available():
        torch = None
    if cupy is None and torch is None:
        return None
    return Gpu(cupy, torch)


def short_error(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".replace("\n", " ")
    return text if len(text) <= 160 else text[:157] + "..."


def over_budget() -> bool:
    return time.perf_counter() - STARTED > BUDGET_S


class Case:
    """The rows of one case; `run` times one implementation and never raises."""

    def __init__(self, gpu: Gpu, title: str, reference: str, rate: Callable[[float], str] | None) -> None:
        self.gpu, self.title, self.reference, self.rate = gpu, title, reference, rate
        self.rows: list[Row] = []
        print(f"\n{title}", flush=True)

    def skip(self, name: str, note: str) -> None:
        self.rows.append(Row(self.title, name, note=note))

    def run(
        self,
        name: str,
        build: Callable[[], Callable[[], Any]],
        check: Callable[[Any], str] | None = None,
        block: Callable[[Any], Any] | None = None,
        events: bool = True,
    ) -> None:
        """build() compiles and returns the call to time; check(first result) returns a note."""
        row = Row(self.title, name)
        try:
            started = time.perf_counter()
            fn = build()
            first = fn()
            if block is not None:
                block(first)
            self.gpu.synchronize()
            setup = time.perf_counter() - started
            notes = [check(first)] if check is not None else []
            if setup > 1.0:
                notes.append(f"first call {setup:.1f} s")
            row.seconds, row.wall = self.gpu.measure(fn, block, events)
            row.rate = self.rate(row.best) if self.rate and row.best else ""
            row.note = "; ".join(n for n in notes if n)
        except Exception as err:  # one implementation failing leaves the others
            row.note = short_error(err)
            if os.environ.get("TC_BENCH_TRACEBACK"):
                traceback.print_exc()
        self.rows.append(row)

    def print(self) -> None:
        print_rows(self.rows, self.reference)


def print_rows(rows: list[Row], reference: str) -> None:
    base = {row.case: row.best for row in rows if row.name == reference}
    head = f"  {'implementation':<24}{'ms':>9}{'wall ms':>9}{'rate':>13}{'ratio':>9}"
    print(f"{head}  note (ratio: time / {reference})")
    for row in rows:
        ms = f"{row.seconds * 1e3:9.3f}" if row.seconds is not None else f"{'-':>9}"
        wall = f"{row.wall * 1e3:9.3f}" if row.wall is not None else f"{'-':>9}"
        ref = base.get(row.case)
        ratio = f"{row.best / ref:8.2f}x" if row.best and ref else f"{'-':>9}"
        if row.best is None:
            ms, wall, ratio = f"{'n/a':>9}", f"{'':>9}", f"{'':>9}"
        print(f"  {row.name:<24}{ms}{wall}{row.rate:>13}{ratio}  {row.note}", flush=True)


def gbps(nbytes: int) -> Callable[[float], str]:
    return lambda seconds: f"{nbytes / seconds / 1e9:.0f} GB/s"


# --- the cases ------------------------------------------------------------------------------------


def device_array(gpu: Gpu, host: np.ndarray) -> Any:
    if gpu.cupy is not None:
        return gpu.cupy.asarray(host)
    return gpu.torch.from_numpy(host).cuda()


def as_torch(gpu: Gpu, array: Any) -> Any:
    """The same device memory as a torch tensor (no copy), or None without torch."""
    if gpu.torch is None:
        return None
    if type(array).__module__.split(".")[0] == "torch":
        return array
    return gpu.torch.as_tensor(array, device="cuda")


def as_cupy(gpu: Gpu, array: Any) -> Any:
    if gpu.cupy is None:
        return None
    return gpu.cupy.asarray(array)


def jax_on_gpu(notes: dict[str, str]) -> Any:
    if "jax" in notes:
        return None
    jax = optional_import("jax")
    if jax is None:
        notes["jax"] = "not installed"
        return None
    try:
        backend = jax.default_backend()
    except Exception as err:
        notes["jax"] = short_error(err)
        return None
    if backend != "gpu":
        notes["jax"] = f"no GPU backend (jax runs on {backend})"
        return None
    return jax


def seed_case(gpu: Gpu, dtype: str, log2n: int, notes: dict[str, str]) -> Case:
    from tc import tensor as T

    n = 1 << log2n
    host = (np.random.default_rng(0).standard_normal(n) * 10).astype(dtype)
    x = device_array(gpu, host)
    itemsize = np.dtype(dtype).itemsize
    case = Case(gpu, f"seed f, 2^{log2n} {dtype}", "device copy", gbps(2 * n * itemsize))
    tol = 1e-5 if dtype == "float32" else 1e-13

    def check(result: Any) -> str:
        error = float(np.max(np.abs(to_host(result) - 1)))
        return f"max |f - 1| = {error:.1e}" + ("" if error <= tol else " (TOO LARGE)")

    def copy() -> Callable[[], Any]:
        if gpu.cupy is not None:
            y = gpu.cupy.empty_like(x)
            return lambda: y.data.copy_from_device_async(x.data, x.nbytes)
        y = gpu.torch.empty_like(x)
        return lambda: y.copy_(x)

    case.run("device copy", copy)

    def build_tc() -> Callable[[], Any]:
        v = T.vector("x", dtype=dtype)
        f = tc_function([v], T.sin(v) ** 2 + T.cos(v) ** 2)
        return lambda: tc_device_call(f, x)

    case.run("tc", build_tc, check)
    xt = as_torch(gpu, x)
    if xt is None:
        case.skip("torch eager", "torch not installed")
    else:
        torch = gpu.torch

        def seed_torch(t: Any) -> Any:
            return torch.sin(t) ** 2 + torch.cos(t) ** 2

        case.run("torch eager", lambda: lambda: seed_torch(xt), check)
        if time.perf_counter() - STARTED > TORCH_COMPILE_BY_S:
            case.skip("torch.compile", f"skipped: {TORCH_COMPILE_BY_S:.0f} s into the run (compile time)")
        else:
            compiled = torch.compile(seed_torch)
            case.run("torch.compile", lambda: lambda: compiled(xt), check)
    xc = as_cupy(gpu, x)
    if xc is None:
        case.skip("cupy.fuse", "cupy not installed")
    else:
        cupy = gpu.cupy

        def seed_cupy(v: Any) -> Any:
            return cupy.sin(v) ** 2 + cupy.cos(v) ** 2

        fused = cupy.fuse(seed_cupy)
        case.run("cupy.fuse", lambda: lambda: fused(xc), check)
        kernel = cupy.ElementwiseKernel(
            "T x", "T y", "T s = sin(x); T c = cos(x); y = s * s + c * c;", "tc_bench_seed_f"
        )
        case.run("cupy ElementwiseKernel", lambda: lambda: kernel(xc), check)
    jax = jax_on_gpu(notes)
    if jax is None:
        case.skip("jax.jit", notes["jax"])
    else:
        import jax.numpy as jnp

        if dtype == "float64":
            jax.config.update("jax_enable_x64", True)

        def build_jax() -> Callable[[], Any]:
            jf = jax.jit(lambda v: jnp.sin(v) ** 2 + jnp.cos(v) ** 2)
            jx = jax.device_put(host)
            return lambda: jf(jx)

        case.run("jax.jit", build_jax, check, block=lambda r: r.block_until_ready(), events=False)
    case.print()
    return case


def rng_case(gpu: Gpu, log2n: int) -> Case:
    from tc.random import RandomStreams

    n = 1 << log2n
    reference = "torch uniform_" if gpu.torch is not None else "cupy random"
    case = Case(gpu, f"uniform, 2^{log2n} float32", reference, gbps(4 * n))

    def check(result: Any) -> str:
        values = to_host(result)
        ok = values.dtype == np.float32 and values.shape == (n,) and 0 <= values.min() and values.max() < 1
        return f"mean {values.mean():.4f}" + ("" if ok and abs(values.mean() - 0.5) < 1e-3 else " (WRONG)")

    def build_tc() -> Callable[[], Any]:
        f = tc_function([], RandomStreams(seed=1).uniform((n,), dtype="float32"))
        return lambda: tc_device_call(f)

    case.run("tc Philox", build_tc, check)
    if gpu.torch is not None:
        torch = gpu.torch
        out = torch.empty(n, dtype=torch.float32, device="cuda")
        case.run("torch uniform_", lambda: out.uniform_, check)
    else:
        case.skip("torch uniform_", "torch not installed")
    if gpu.cupy is not None:
        generator = gpu.cupy.random.default_rng(1)
        target = gpu.cupy.empty(n, dtype=np.float32)
        case.run("cupy random", lambda: lambda: generator.random(n, dtype=np.float32, out=target), check)
    case.print()
    return case


def gemm_case(gpu: Gpu, size: int) -> Case:
    from tc import tensor as T

    flops = 2.0 * size**3
    reference = "cupy.matmul" if gpu.cupy is not None else "torch.matmul"
    case = Case(
        gpu, f"{size}^2 float32 product, TF32 off", reference, lambda s: f"{flops / s / 1e12:.1f} TFLOP/s"
    )
    rng = np.random.default_rng(0)
    a_host = rng.standard_normal((size, size)).astype(np.float32)
    b_host = rng.standard_normal((size, size)).astype(np.float32)
    a, b = device_array(gpu, a_host), device_array(gpu, b_host)
    # float64 products of a row block, to tell fp32 from TF32 (TF32 errors are ~1e-3 relative)
    rows = slice(0, 64)
    exact = a_host[rows].astype(np.float64) @ b_host.astype(np.float64)

    def check(result: Any) -> str:
        got = to_host(result)[rows]
        error = float(np.max(np.abs(got - exact)) / np.max(np.abs(exact)))
        return f"rel. error {error:.1e}" + (" (TF32?)" if error > 1e-4 else "")

    def build_tc() -> Callable[[], Any]:
        x, y = T.fmatrix("a"), T.fmatrix("b")
        f = tc_function([x, y], T.dot(x, y))
        return lambda: tc_device_call(f, a, b)

    case.run("tc", build_tc, check)
    notes = []
    if os.environ.get("NVIDIA_TF32_OVERRIDE") == "1":
        notes.append("NVIDIA_TF32_OVERRIDE=1 forces TF32")
    if gpu.cupy is not None:
        if os.environ.get("CUPY_TF32", "0") != "0":
            notes.append("CUPY_TF32 is on")
        ac, bc = as_cupy(gpu, a), as_cupy(gpu, b)
        case.run("cupy.matmul", lambda: lambda: gpu.cupy.matmul(ac, bc), check)
    if gpu.torch is not None:
        torch = gpu.torch
        torch.backends.cuda.matmul.allow_tf32 = False
        at, bt = as_torch(gpu, a), as_torch(gpu, b)
        case.run("torch.matmul", lambda: lambda: torch.matmul(at, bt), check)
    if notes:
        print("  note: " + "; ".join(notes))
    case.print()
    return case


# --- training steps -------------------------------------------------------------------------------


@dataclass
class Model:
    name: str
    n_hidden: int
    learning_rate: float
    batch: int = 512
    n_in: int = 784
    n_out: int = 10

    def initial_params(self) -> list[np.ndarray]:
        """The deeplearning.net initialisation: tanh weights uniform(+-sqrt(6 / (in + out)))
        from RandomState(1234), everything else zero."""
        output = [
            np.zeros((self.n_hidden or self.n_in, self.n_out), np.float32),
            np.zeros(self.n_out, np.float32),
        ]
        if not self.n_hidden:
            return output
        bound = math.sqrt(6.0 / (self.n_in + self.n_hidden))
        rng = np.random.RandomState(1234)
        hidden = rng.uniform(-bound, bound, (self.n_in, self.n_hidden)).astype(np.float32)
        return [hidden, np.zeros(self.n_hidden, np.float32), *output]


def tc_train_step(model: Model) -> Any:
    """The Theano-style step: cost = mean negative log-likelihood of softmax(h W + b), SGD updates."""
    from tc import tensor as T

    x, y = T.fmatrix("x"), T.lvector("y")
    names = ["W_hidden", "b_hidden", "W", "b"] if model.n_hidden else ["W", "b"]
    params = [tc_shared(value, name) for value, name in zip(model.initial_params(), names, strict=True)]
    if model.n_hidden:
        W_hidden, b_hidden, W, b = params
        hidden = T.tanh(T.dot(x, W_hidden) + b_hidden)
    else:
        W, b = params
        hidden = x
    p_y_given_x = T.nnet.softmax(T.dot(hidden, W) + b)
    cost = -T.mean(T.log(p_y_given_x)[T.arange(y.shape[0]), y])
    grads = T.grad(cost, params)
    rate = np.float32(model.learning_rate)
    updates = [(p, p - rate * g) for p, g in zip(params, grads, strict=True)]
    return tc_function([x, y], cost, updates=updates)


def train_case(gpu: Gpu, model: Model, notes: dict[str, str]) -> Case:
    reference = "torch eager" if gpu.torch is not None else "tc"
    case = Case(gpu, f"{model.name} step, batch {model.batch} float32", reference, None)
    rng = np.random.default_rng(0)
    x_host = rng.random((model.batch, model.n_in), dtype=np.float32)
    y_host = rng.integers(0, model.n_out, model.batch).astype(np.int64)
    x, y = device_array(gpu, x_host), device_array(gpu, y_host)
    second_costs: dict[str, float] = {}

    def two_steps(name: str, step: Callable[[], Any]) -> Callable[[], Any]:
        """Record the cost of the second step (the first is log 10 for every model)."""
        step()
        second_costs[name] = float(np.asarray(to_host(step())).reshape(-1)[0])
        return step

    def build_tc() -> Callable[[], Any]:
        f = tc_train_step(model)
        return two_steps("tc", lambda: tc_device_call(f, x, y))

    case.run("tc", build_tc)
    if gpu.torch is not None:
        torch = gpu.torch
        xt, yt = as_torch(gpu, x), as_torch(gpu, y)

        def build_torch() -> Callable[[], Any]:
            params = [torch.tensor(v, device="cuda", requires_grad=True) for v in model.initial_params()]

            def step() -> Any:
                if model.n_hidden:
                    W_hidden, b_hidden, W, b = params
                    hidden = torch.tanh(xt @ W_hidden + b_hidden)
                else:
                    W, b = params
                    hidden = xt
                cost = torch.nn.functional.cross_entropy(hidden @ W + b, yt)
                grads = torch.autograd.grad(cost, params)
                with torch.no_grad():
                    for p, g in zip(params, grads, strict=True):
                        p.add_(g, alpha=-model.learning_rate)
                return cost

            return two_steps("torch eager", step)

        case.run("torch eager", build_torch)
    else:
        case.skip("torch eager", "torch not installed")
    jax = jax_on_gpu(notes)
    if jax is None:
        case.skip("jax.jit", notes["jax"])
    else:

        def build_jax() -> Callable[[], Any]:
            import jax.numpy as jnp

            jx, jy = jax.device_put(x_host), jax.device_put(y_host.astype(np.int32))

            def cost_of(params: list[Any], xb: Any, yb: Any) -> Any:
                if model.n_hidden:
                    W_hidden, b_hidden, W, b = params
                    hidden = jnp.tanh(xb @ W_hidden + b_hidden)
                else:
                    W, b = params
                    hidden = xb
                log_p = jax.nn.log_softmax(hidden @ W + b, axis=1)
                return -jnp.mean(log_p[jnp.arange(yb.shape[0]), yb])

            def step(params: list[Any], xb: Any, yb: Any) -> tuple[list[Any], Any]:
                cost, grads = jax.value_and_grad(cost_of)(params, xb, yb)
                rate = jnp.float32(model.learning_rate)
                return [p - rate * g for p, g in zip(params, grads, strict=True)], cost

            jitted = jax.jit(step, donate_argnums=0)
            state = {"params": [jax.device_put(v) for v in model.initial_params()]}

            def call() -> Any:
                state["params"], cost = jitted(state["params"], jx, jy)
                return cost

            return two_steps("jax.jit", call)

        case.run("jax.jit", build_jax, block=lambda r: r.block_until_ready(), events=False)
    if second_costs:
        shown = ", ".join(f"{name} {value:.6f}" for name, value in second_costs.items())
        values = list(second_costs.values())
        agree = max(values) - min(values) <= 1e-4 * max(1.0, abs(values[0]))
        print(f"  cost after one step: {shown}" + ("" if agree else "  (DISAGREE)"))
    case.print()
    return case


# --- main -----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="arrays 16 times smaller, a 1024^2 product")
    parser.add_argument("--only", metavar="NAME", help="run only the cases whose name contains NAME")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    gpu = find_gpu()
    if gpu is None:
        print("no GPU: skipped")
        return 0
    shrink = 4 if args.quick else 0
    print(f"tc GPU benchmark on {gpu.name()} ({machine_note()})")
    peers = []
    for label, module in (("cupy", gpu.cupy), ("torch", gpu.torch)):
        peers.append(f"{label} {module.__version__}" if module is not None else f"{label}: absent")
    print("peers: " + ", ".join(peers))
    notes: dict[str, str] = {}
    cases: list[tuple[str, Callable[[], Case]]] = [
        ("seed float32", lambda: seed_case(gpu, "float32", 26 - shrink, notes)),
        ("seed float64", lambda: seed_case(gpu, "float64", 25 - shrink, notes)),
        ("uniform", lambda: rng_case(gpu, 26 - shrink)),
        ("product", lambda: gemm_case(gpu, 1024 if args.quick else 4096)),
        ("logreg", lambda: train_case(gpu, Model("logistic regression 784-10", 0, 0.13), notes)),
        ("mlp", lambda: train_case(gpu, Model("MLP 784-500-10", 500, 0.01), notes)),
    ]
    done: list[Case] = []
    failed: list[str] = []
    for name, run in cases:
        if args.only and args.only not in name:
            continue
        if over_budget():
            print(f"\n{name}: skipped ({BUDGET_S:.0f} s time budget spent)")
            failed.append(f"{name} (time budget)")
            continue
        try:
            done.append(run())
        except Exception as err:  # a case that cannot even start prints why; the rest still run
            print(f"\n{name}: FAILED {short_error(err)}")
            traceback.print_exc(limit=4)
            failed.append(name)
    seconds = time.perf_counter() - STARTED
    print(f"\nSummary, {seconds:.0f} s (ms: CUDA-event median of {REPEAT}; wall: host time per call)")
    for case in done:
        print(f"{case.title}")
        print_rows(case.rows, case.reference)
    if failed:
        print("cases not run: " + ", ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
