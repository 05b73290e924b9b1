"""LeNet-5 train step (deeplearning.net's convolutional_mlp.py shapes) by tc and JAX, and conv2d alone.

    python bench/lenet.py [--quick] [--threads N] [--batch 500]

The model: 1x28x28 input, 20 5x5 filters, 2x2 max pooling, tanh; 50 5x5 filters, 2x2 max
pooling, tanh; a 500-unit tanh layer; a 10-way softmax; mean negative log-likelihood; SGD
(learning rate 0.1) on a minibatch of 500, float32. tc: `T.nnet.conv2d` + `pool_2d`,
one compiled function with shared parameters and updates (im2col into OpenBLAS's sgemm).
JAX (when importable): `jax.lax.conv_general_dilated` + `reduce_window`, a jitted step.
Then conv2d forward + backward (gradients wrt input and filters) alone, for the two layer
shapes. Times are medians per step; the ratio is against tc. The first step's cost of the
two is compared, as a check that they compute the same model.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

if "--threads" in sys.argv and sys.argv.index("--threads") + 1 < len(sys.argv):
    _count = sys.argv[sys.argv.index("--threads") + 1]
    for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TC_NUM_THREADS"):
        os.environ[_variable] = _count

import numpy as np  # noqa: E402
from harness import machine_note, median_seconds, optional_import, print_table  # noqa: E402

LR = 0.1
SHAPES = [(20, 1, 5, 5), (20,), (50, 20, 5, 5), (50,), (800, 500), (500,), (500, 10), (10,)]
CONV_LAYERS = [((1, 28, 28), (20, 1, 5, 5)), ((20, 12, 12), (50, 20, 5, 5))]


def initial_params(seed: int = 1234) -> list[np.ndarray]:
    rng = np.random.RandomState(seed)
    params = []
    for shape in SHAPES:
        if len(shape) == 1:
            params.append(np.zeros(shape, np.float32))
            continue
        fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
        bound = np.sqrt(6.0 / (fan_in + (shape[0] if len(shape) == 4 else shape[1])))
        params.append(rng.uniform(-bound, bound, shape).astype(np.float32))
    return params


def tc_step(initial: list[np.ndarray]):  # type: ignore[no-untyped-def]
    import tc
    import tc.tensor as T
    from tc.tensor.signal import pool

    params = [tc.shared(v.copy(), name=f"p{k}") for k, v in enumerate(initial)]
    w0, b0, w1, b1, w2, b2, w3, b3 = params
    x, y = T.ftensor4("x"), T.ivector("y")
    a0 = T.tanh(
        pool.pool_2d(T.nnet.conv2d(x, w0), (2, 2), ignore_border=True) + b0.dimshuffle("x", 0, "x", "x")
    )
    a1 = T.tanh(
        pool.pool_2d(T.nnet.conv2d(a0, w1), (2, 2), ignore_border=True) + b1.dimshuffle("x", 0, "x", "x")
    )
    h = T.tanh(T.dot(a1.flatten(2), w2) + b2)
    p = T.nnet.softmax(T.dot(h, w3) + b3)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    grads = T.grad(cost, params)
    lr = np.float32(LR)
    return tc.function([x, y], cost, updates=[(v, v - lr * g) for v, g in zip(params, grads, strict=True)])


def jax_step(jax, initial: list[np.ndarray]):  # type: ignore[no-untyped-def]
    jnp, lax = jax.numpy, jax.lax

    def conv(x, w):  # type: ignore[no-untyped-def]  # Theano's conv2d flips the filters
        return lax.conv_general_dilated(x, w[:, :, ::-1, ::-1], (1, 1), "VALID")

    def pool(x):  # type: ignore[no-untyped-def]
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def cost(params, x, y):  # type: ignore[no-untyped-def]
        w0, b0, w1, b1, w2, b2, w3, b3 = params
        a0 = jnp.tanh(pool(conv(x, w0)) + b0[None, :, None, None])
        a1 = jnp.tanh(pool(conv(a0, w1)) + b1[None, :, None, None])
        h = jnp.tanh(a1.reshape(x.shape[0], -1) @ w2 + b2)
        logp = jax.nn.log_softmax(h @ w3 + b3)
        return -jnp.mean(logp[jnp.arange(x.shape[0]), y])

    @jax.jit
    def step(params, x, y):  # type: ignore[no-untyped-def]
        value, grads = jax.value_and_grad(cost)(params, x, y)
        return value, [p - LR * g for p, g in zip(params, grads, strict=True)]

    state = {"params": [jnp.asarray(v) for v in initial]}

    def run(x, y):  # type: ignore[no-untyped-def]
        value, state["params"] = step(state["params"], x, y)
        return value.block_until_ready()

    return run


def tc_conv(shape_x: tuple[int, ...], shape_w: tuple[int, ...]):  # type: ignore[no-untyped-def]
    import tc
    import tc.tensor as T

    x, w, g = T.ftensor4("x"), T.ftensor4("w"), T.ftensor4("g")
    y = T.nnet.conv2d(x, w)
    gx, gw = T.grad(T.sum(y * g), [x, w])
    return tc.function([x, w, g], [y, gx, gw])


def jax_conv(jax):  # type: ignore[no-untyped-def]
    lax = jax.lax

    @jax.jit
    def run(x, w, g):  # type: ignore[no-untyped-def]
        y, back = jax.vjp(
            lambda a, b: lax.conv_general_dilated(a, b[:, :, ::-1, ::-1], (1, 1), "VALID"), x, w
        )
        return (y, *back(g))

    return lambda x, w, g: [v.block_until_ready() for v in run(x, w, g)]


def main() -> None:
    quick = "--quick" in sys.argv
    batch = int(sys.argv[sys.argv.index("--batch") + 1]) if "--batch" in sys.argv else 500
    repeat = 3 if quick else 7
    jax = optional_import("jax")
    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.int32)
    initial = initial_params()
    print(f"LeNet-5 train step, batch {batch}, float32 ({machine_note()}; the machine may be shared)")
    step = tc_step(initial)
    first = float(step(x, y))
    rows: list[tuple[str, float | None]] = [("tc", median_seconds(lambda: step(x, y), repeat=repeat))]
    if jax is not None:
        jstep = jax_step(jax, initial)
        jfirst = float(jstep(x, y))
        print(f"  first-step cost: tc {first:.6f}, jax {jfirst:.6f}")
        rows.append(("jax (jit)", median_seconds(lambda: jstep(x, y), repeat=repeat)))
    else:
        rows.append(("jax (not installed)", None))
    print_table("LeNet-5 train step (ms per step)", rows)

    for shape_x, shape_w in CONV_LAYERS:
        xs = rng.standard_normal((batch, *shape_x)).astype(np.float32)
        ws = rng.standard_normal(shape_w).astype(np.float32)
        f = tc_conv(xs.shape, ws.shape)
        out = (batch, shape_w[0], shape_x[1] - shape_w[2] + 1, shape_x[2] - shape_w[3] + 1)
        gs = rng.standard_normal(out).astype(np.float32)
        rows = [("tc", median_seconds(lambda f=f, xs=xs, ws=ws, gs=gs: f(xs, ws, gs), repeat=repeat))]
        note = ""
        if jax is not None:
            jf = jax_conv(jax)
            got, want = f(xs, ws, gs), jf(xs, ws, gs)
            error = max(
                float(np.max(np.abs(np.asarray(a) - b)) / (np.max(np.abs(b)) + 1e-30))
                for a, b in zip(want, got, strict=True)
            )
            note = f"  largest relative difference tc vs jax {error:.1e}"
            rows.append(
                (
                    "jax (jit)",
                    median_seconds(lambda jf=jf, xs=xs, ws=ws, gs=gs: jf(xs, ws, gs), repeat=repeat),
                )
            )
        title = f"conv2d forward + backward, input {(batch, *shape_x)}, filters {shape_w}"
        print_table(title, rows)
        if jax is not None:
            print(note)


if __name__ == "__main__":
    main()
