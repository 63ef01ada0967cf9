#!/usr/bin/env bash
# The demo before and after a change, side by side on one machine (docs/benchmarks.md, "The demo
# re-planned"): `fairxbar-aihw study demo` at commit BEFORE and at this working tree, one after the
# other, each in a fresh folder, then each run's stage timings summed over its seeds. Run it alone
# (nothing else on the CPU): ratios from one run are what to compare, not seconds across machines.
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
    "$PY" - "$WORK/$1/runs/demo/results.sqlite" <<'EOF'
import json, sqlite3, sys
from collections import Counter
rows = sqlite3.connect(sys.argv[1]).execute("SELECT value_json FROM meta WHERE key='timings'").fetchall()
total = Counter()
for (value,) in rows:
    total.update(json.loads(value))
print(f"  seeds {len(rows)}; stages summed over seeds (s): " + ", ".join(f"{k} {v:.1f}" for k, v in total.items()))
EOF
}
run before "$WORK/before-src"
run after "$ROOT"
echo "reports: $WORK/before/{docs/reports,reports}/demo (whichever BEFORE wrote), $WORK/after/docs/reports/demo"
