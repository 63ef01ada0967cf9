#!/usr/bin/env bash
# One demo seed in eval-equivalents, per stage, under two OpenMP wait settings side by side:
# libgomp's default (spin 300,000 iterations before sleeping: GOMP_SPINCOUNT=300000, what the tool
# ran with before issue 24) and the tool's default now (OMP_WAIT_POLICY=PASSIVE), interleaved.
# Each run records its own digital test-set evaluation time, so each stage is printed in
# eval-equivalents (stage seconds / one evaluation). Run it alone.
#
#   bash benchmarks/bench_demo_units.sh [ROUNDS] [SEED]
set -euo pipefail
ROUNDS=${1:-2}
SEED=${2:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
WORK=$(mktemp -d)
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; demo seed $SEED, $ROUNDS round(s)"
for round in $(seq "$ROUNDS"); do
  for variant in spin PASSIVE; do
    dir="$WORK/$variant-$round"; mkdir -p "$dir"
    if [ "$variant" = spin ]; then setting=(env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=300000); else setting=(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT); fi
    (cd "$dir" && PYTHONPATH="$ROOT" FAIRXBAR_RUNS="$dir/runs" FAIRXBAR_REPORTS="$dir/reports" \
       /usr/bin/time -f "%e" -o wall.txt "${setting[@]}" "$PY" -m fairxbar_aihw.cli study demo --seeds "$SEED" --no-progress >log.txt 2>&1)
    "$PY" - "$dir/runs/demo/results.sqlite" "$variant" "$(cat "$dir/wall.txt")" <<'PYEOF'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value_json FROM meta WHERE key IN ('timings', 'eval_seconds')")}
t, ev = meta["timings"], float(meta["eval_seconds"])
stages = {"train": t["data"] + t["train"], "saliency": t["saliency"], "sweep": t["inject"],
          "arms": sum(v for k, v in t.items() if k.startswith(("retrain ", "evaluate "))), "prune": t.get("prune", 0),
          "drift": t.get("drift", 0)}
wall = float(sys.argv[3])
print(f"{sys.argv[2]:8s} eval {ev:.4f} s | " + " | ".join(f"{k} {v:.1f} s = {v / ev:.0f}" for k, v in stages.items())
      + f" | wall {wall:.1f} s = {wall / ev:.0f} eval-equivalents")
PYEOF
  done
done
rm -rf "$WORK"
