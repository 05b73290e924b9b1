#!/usr/bin/env bash
# The one script to run on the GPU machine, from the repository root (see ../shared/gpu/README.md):
#
#     mkdir -p .gpuwheels && cp ../shared/gpu/wheels/*.whl .gpuwheels/     # once, here
#     run: tools/gpu_check.sh          (carry [".gpuwheels"], timeout_s about 400)
#
# Installs the carried wheels and tc into .gpusite (no network there: --no-index), then runs
# the tests marked cuda, bench/gpu.py and the logistic-regression example on the device when it takes --device. Each step has a
# timeout inside one overall budget ($GPU_CHECK_BUDGET_S, default 330 s), and a failing step
# does not stop the next. Full logs go to $OUT (default ./gpu-out); a summary is printed last.
# The exit status is 0 when every step that ran passed.
#
# PYTHONSAFEPATH=1: `python3 -m pytest` would otherwise put the repository root on sys.path,
# and its tc/ folder (only part of the package: the rest is mapped from the other top-level
# folders) would shadow the tc installed in .gpusite. It is exported, so subprocesses get it too.

set -u
cd "$(dirname "$0")/.." || exit 1
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
BUDGET="${GPU_CHECK_BUDGET_S:-330}"
SECONDS=0
STATUS=()
FAILED=0

# step NAME LOG LIMIT COMMAND...: run COMMAND with a timeout of at most LIMIT seconds (less if the
# budget is nearly spent), output to $OUT/LOG, and record how it ended.
step() {
    local name="$1" log="$OUT/$2" limit="$3"
    shift 3
    local left=$((BUDGET - SECONDS - 5))
    if ((left < 10)); then
        STATUS+=("$(printf '%-22s skipped: budget spent' "$name")")
        echo "== $name: skipped (budget spent)"
        return 0
    fi
    ((limit > left)) && limit=$left
    echo "== $name (timeout ${limit} s) -> $log"
    local started=$SECONDS rc
    timeout -k 5 "$limit" "$@" >"$log" 2>&1
    rc=$?
    local how="rc=$rc"
    ((rc == 124 || rc == 137)) && how="TIMED OUT after ${limit} s"
    ((rc != 0)) && FAILED=$((FAILED + 1))
    STATUS+=("$(printf '%-22s %-28s %4d s' "$name" "$how" $((SECONDS - started)))")
    echo "   $how in $((SECONDS - started)) s"
    return 0
}

install() {
    local wheels=(.gpuwheels/*.whl)
    if [[ -e "${wheels[0]}" ]]; then
        python3 -m pip install -q --no-index --no-deps --target .gpusite "${wheels[@]}" || return 1
    else
        echo "no wheels in .gpuwheels/ (carry it: [\".gpuwheels\"])"
    fi
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --target .gpusite . || return 1
}

echo "== GPU check, $(date -u +%FT%TZ), logs in $OUT"
nvidia-smi -L 2>&1 || echo "nvidia-smi failed"
# Not through `step`: `timeout` runs programs, not shell functions.
install >"$OUT/install.log" 2>&1 || { FAILED=$((FAILED + 1)); echo "install failed:"; tail -n 20 "$OUT/install.log"; }
STATUS+=("$(printf '%-22s done in %4d s' install "$SECONDS")")
export PYTHONPATH="$PWD/.gpusite${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONSAFEPATH=1
export PYTHONDONTWRITEBYTECODE=1

step "environment" environment.log 40 python3 - <<'EOF'
import importlib, platform, sys
print("python", platform.python_version(), sys.executable)
for name in ("numpy", "llvmlite", "pycuda", "cupy", "torch", "jax", "lark", "tc"):
    try:
        module = importlib.import_module(name)
        print(f"{name:10} {getattr(module, '__version__', '?'):12} {getattr(module, '__file__', '')}")
    except Exception as err:
        print(f"{name:10} absent ({type(err).__name__}: {err})")
from tc.runtime import cublas
candidates = cublas.library_candidates()
print("libcublas candidates:", *candidates[:8], sep="\n  ")
try:
    import cupy

    cupy.cuda.Device(0).use()
    cupy.zeros(1)  # the primary context is current from here on
    blas = cublas.Cublas.create()
    print("cuBLAS loaded:", cublas.load_cublas()._name, "version", blas.version())
    blas.close()
except Exception as err:
    print("cuBLAS check failed:", type(err).__name__, err)
    sys.exit(1)
EOF

step "pytest -m cuda" pytest-cuda.log 100 python3 -m pytest -p no:cacheprovider -m cuda -q tests
step "bench/gpu.py" bench-gpu.log 175 python3 bench/gpu.py
step "gpu_profile" gpu-profile.log 40 python3 bench/gpu_profile.py
step "gpu_grid" gpu-grid.log 60 python3 bench/gpu_grid.py
# The examples on the GPU; the data (Fashion-MNIST's IDX files) may be carried in .gpuwheels/data.
# PYTHONSAFEPATH unset: an example imports its neighbour training.py from the script's folder.
DATA=()
[[ -d .gpuwheels/data ]] && DATA=(--data .gpuwheels/data)
step "logistic_sgd --device" example-logistic-sgd.log 60 \
    env -u PYTHONSAFEPATH python3 examples/logistic_sgd.py --device cuda --epochs 2 --quiet "${DATA[@]}"
step "mlp --device" example-mlp.log 45 \
    env -u PYTHONSAFEPATH python3 examples/mlp.py --device cuda --dtype float32 --epochs 1 --quiet "${DATA[@]}"

last_line() {  # the last non-empty line of a log, or why there is none
    if [[ -s "$1" ]]; then grep -v '^\s*$' "$1" | tail -n 1; else echo "(no log)"; fi
}

echo
echo "================ summary ($SECONDS s) ================"
printf '%s\n' "${STATUS[@]}"
echo "--- environment"
grep -E "^(pycuda|cupy|torch|jax) |cuBLAS" "$OUT/environment.log" 2>/dev/null | cut -c1-150
echo "--- pytest -m cuda:        $(last_line "$OUT/pytest-cuda.log")"
grep -hE "^(FAILED|ERROR) " "$OUT/pytest-cuda.log" 2>/dev/null | head -n 15 | cut -c1-200
for example in logistic-sgd mlp; do
    [[ -s "$OUT/example-$example.log" ]] && echo "--- example $example: $(tail -n 4 "$OUT/example-$example.log")"
done
echo "--- grid (gpu-grid.log)"
cat "$OUT/gpu-grid.log" 2>/dev/null | tail -n 16
echo "--- train step host profile: $(head -n 1 "$OUT/gpu-profile.log" 2>/dev/null)"
echo "--- bench (last 30 lines of bench-gpu.log)"
tail -n 30 "$OUT/bench-gpu.log" 2>/dev/null || echo "(no log)"
((FAILED == 0))
