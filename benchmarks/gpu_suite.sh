#!/usr/bin/env bash
# What a session with a GPU owes issue 9, in one command (run from the repository root after the
# README's install):   bash benchmarks/gpu_suite.sh [OUT_DIR]
# Records the GPU model, runs the CUDA tests on the real device, the benchmark suite with
# --device cuda, and the reduced paper-protocol study (synth-resnet18) end to end on the GPU.
set -euo pipefail
PY=${PY:-.venv/bin/python}
OUT=${1:-benchmarks/results-gpu}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.csv"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'torch sees no GPU'; print(torch.cuda.get_device_name())"
"$PY" -m pytest tests/test_cuda_path.py -rs | tee "$OUT/tests.txt"   # includes the real-CUDA study test
"$PY" benchmarks/bench_trial.py --device cuda | tee "$OUT/trial-small-cnn.md"
"$PY" benchmarks/bench_trial.py --device cuda --model resnet18 --size 64 --n-test 2000 | tee "$OUT/trial-resnet18.md"
"$PY" benchmarks/bench_batched_chips.py --device cuda | tee "$OUT/batched-chips.md"
"$PY" benchmarks/bench_curvature.py --device cuda --repeats 3 | tee "$OUT/curvature.md"
start=$(date +%s)
"$PY" -m fairxbar_aihw.cli study synth-resnet18 --device cuda --no-progress | tee "$OUT/study.txt"
echo "synth-resnet18 on $(nvidia-smi --query-gpu=name --format=csv,noheader): $(( $(date +%s) - start )) s" | tee -a "$OUT/study.txt"
