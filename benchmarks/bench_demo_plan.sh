#!/usr/bin/env bash
# The demo before and after a change, side by side on one machine (docs/benchmarks.md, "The demo
# re-planned"): `fairxbar-aihw study demo` at commit BEFORE and at this working tree, one after the
# other, each in a fresh folder, then each run's stage timings summed over its seeds, in seconds
# and in eval-equivalents (each seed's stages over its own recorded digital test-set evaluation;
# the wall time over the seeds' mean evaluation). Run it alone (nothing else on the CPU): ratios
# from one run are what to compare, not seconds across machines. Also measures issue 24's seed
# workers (docs/benchmarks.md, "The demo in eval-equivalents").
#
#   bash benchmarks/bench_demo_plan.sh [BEFORE]        # default ff8e1e9 (the 3-seed demo)
set -euo pipefail
BEFORE=${1:-ff8e1e9}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
WORK=$(mktemp -d)
git -C "$ROOT" worktree add -q --detach "$WORK/before-src" "$BEFORE"
trap 'git -C "$ROOT" worktree remove --force "$WORK/before-src"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; torch threads: default"

run() {  # label, source tree
    mkdir -p "$WORK/$1"
    (cd "$WORK/$1" && PYTHONPATH="$2" /usr/bin/time -f "%e" -o wall.txt \
        "$PY" -m fairxbar_aihw.cli study demo --no-progress >log.txt 2>&1)
    echo "$1 ($( [ "$1" = before ] && echo "$BEFORE" || git -C "$ROOT" rev-parse --short HEAD)): wall $(cat "$WORK/$1/wall.txt") s"
    "$PY" - "$WORK/$1/runs/demo/results.sqlite" "$(cat "$WORK/$1/wall.txt")" <<'EOF'
import json, sqlite3, sys
from collections import Counter
db = sqlite3.connect(sys.argv[1])
meta = {}
for run_id, key, value in db.execute("SELECT run_id, key, value_json FROM meta WHERE key IN ('timings', 'eval_seconds', 'environment')"):
    meta.setdefault(run_id, {})[key] = json.loads(value)
seconds, units = Counter(), Counter()
evals = [m["eval_seconds"] for m in meta.values() if "eval_seconds" in m]
for m in meta.values():
    seconds.update(m.get("timings", {}))
    if "eval_seconds" in m:
        units.update({k: v / m["eval_seconds"] for k, v in m.get("timings", {}).items()})
threads = sorted({m.get("environment", {}).get("torch_threads") for m in meta.values()} - {None})
wall, mean_eval = float(sys.argv[2]), sum(evals) / max(1, len(evals))
print(f"  seeds {len(meta)}, torch threads per seed {threads}; one evaluation {min(evals):.4f}-{max(evals):.4f} s "
      f"(mean {mean_eval:.4f}); wall = {wall / mean_eval:,.0f} eval-equivalents")
print("  stages summed over seeds, s (eval-equivalents): "
      + ", ".join(f"{k} {v:.1f} ({units[k]:,.0f})" for k, v in sorted(seconds.items())))
print(f"  all stages: {sum(seconds.values()):.1f} s ({sum(units.values()):,.0f})")
EOF
}
run before "$WORK/before-src"
run after "$ROOT"
echo "reports: $WORK/before/{docs/reports,reports}/demo (whichever BEFORE wrote), $WORK/after/docs/reports/demo"
