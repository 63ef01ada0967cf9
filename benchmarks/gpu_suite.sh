#!/usr/bin/env bash
# What a lent GPU owes issue 33, in pieces that each fit one device command (≤ 8 minutes).
#
# A lent machine has its own Python 3.12 and torch, no network, and takes at most 64 MiB of
# carried files, so the project and aihwkit arrive as wheels built here and are installed onto the
# machine's own torch without dependencies:
#
#   bash benchmarks/gpu_suite.sh prepare        # HERE (registry access): gpu-wheels/, ≤ 64 MiB
#   bash benchmarks/gpu_suite.sh install        # on the GPU machine (carry gpu-wheels), then:
#   bash benchmarks/gpu_suite.sh units          # per-stage GPU rates, ResNet-18 @ 128 px, 114 classes,
#                                               # and the paper protocol projected from them
#   bash benchmarks/gpu_suite.sh tests          # the CUDA tests on the real device
#   bash benchmarks/gpu_suite.sh study          # synth-resnet18 --quick end to end on the GPU
#
# Every piece writes under $OUT (default benchmarks/results-gpu) and runs under `timeout 480`.
# One device call can chain pieces: `bash benchmarks/gpu_suite.sh install units`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results-gpu}
WHEELS=gpu-wheels
VENV=.venv-gpu
PY=$VENV/bin/python
PIECE_LIMIT=480
mkdir -p "$OUT"

prepare() {  # wheels for the project, aihwkit 1.2.0 (cp312) and the small pure-Python dependencies
    local pip=${PIP:-.venv/bin/pip}
    rm -rf "$WHEELS"; mkdir -p "$WHEELS"
    "$pip" wheel --quiet --no-deps . -w "$WHEELS"
    "$pip" download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any -d "$WHEELS" \
        aihwkit==1.2.0 backpack-for-pytorch einops click tqdm pyyaml safetensors pydantic pydantic-core \
        annotated-types typing-inspection typing-extensions
    local size; size=$(du -sm "$WHEELS" | cut -f1)
    echo "$WHEELS: $(ls "$WHEELS" | wc -l) wheels, ${size} MiB"
    if (( size > 64 )); then echo "gpu_suite: $WHEELS is ${size} MiB, over the 64 MiB a device call carries" >&2; exit 1; fi
}

install() {  # a venv on the machine's own Python and torch; our wheels without dependencies
    local base=${BASE_PYTHON:-python3}
    "$base" -m venv --system-site-packages "$VENV"
    "$PY" -m pip install --quiet --no-index --no-deps "$WHEELS"/*.whl
    "$PY" - <<'EOF' | tee "$OUT/environment.txt"
import importlib, sys, torch
print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "")
missing = [m for m in ("aihwkit", "backpack", "numpy", "scipy", "pandas", "matplotlib", "fairxbar_aihw")
           if importlib.util.find_spec(m) is None]
print("missing:", ", ".join(missing) or "none")
import fairxbar_aihw, aihwkit
print("fairxbar_aihw", fairxbar_aihw.__version__, "| aihwkit", aihwkit.__version__)
EOF
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.csv"
}

units() {  # per-stage rates at the paper's shape, then the paper protocol projected from them
    timeout "$PIECE_LIMIT" "$PY" benchmarks/bench_stage_units.py --device cuda --model resnet18 --size 128 \
        --classes 114 --n-test 3315 --batch 64 --repeats 3 --json "$OUT/units-resnet18.json" | tee "$OUT/units-resnet18.md"
    "$PY" benchmarks/project_protocol.py "$OUT/units-resnet18.json" --study fitz-resnet18 | tee "$OUT/projection.md"
    "$PY" benchmarks/project_protocol.py "$OUT/units-resnet18.json" --study synth-resnet18-gpu | tee -a "$OUT/projection.md"
}

tests() {
    timeout "$PIECE_LIMIT" "$PY" -m pytest -q -rs tests/test_cuda_path.py | tee "$OUT/tests.txt"
}

study() {
    local start; start=$(date +%s)
    FAIRXBAR_RUNS="$OUT/runs" FAIRXBAR_REPORTS="$OUT/reports" timeout "$PIECE_LIMIT" \
        "$PY" -m fairxbar_aihw.cli study synth-resnet18 --quick --device cuda --no-progress | tee "$OUT/study.txt"
    echo "synth-resnet18 --quick on the GPU: $(( $(date +%s) - start )) s" | tee -a "$OUT/study.txt"
}

[[ $# -gt 0 ]] || { sed -n 2,16p "$0"; exit 2; }
for piece in "$@"; do
    case "$piece" in
        prepare|install|units|tests|study) "$piece" ;;
        *) echo "gpu_suite: unknown piece '$piece'; choose prepare, install, units, tests or study" >&2; exit 2 ;;
    esac
done
