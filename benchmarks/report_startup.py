"""`fairxbar-aihw report STUDY` from two checkouts, back to back: wall seconds and whether torch and
aihwkit were loaded (issue 35: the report renders from the database alone).

    git worktree add /tmp/before <commit>
    python benchmarks/report_startup.py /tmp/before . demo 3

Each run is a fresh interpreter that imports the package from the given checkout (an editable
install's import hook is set aside), renders the study's report from its kept run folder under
the current folder, and prints one line; old and new alternate so machine noise hits both alike.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = """
import sys, time
code = sys.argv[1]
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, code)
t0 = time.perf_counter()
import fairxbar_aihw
assert fairxbar_aihw.__file__.startswith(code), fairxbar_aihw.__file__
sys.argv = ["fairxbar-aihw", "report", sys.argv[2]]
from fairxbar_aihw.cli.main import main
try:
    main()
except SystemExit:
    pass
print(f"{time.perf_counter() - t0:.1f} {'torch' in sys.modules} {'aihwkit' in sys.modules}")
"""


def main() -> None:
    old, new = (str(Path(p).resolve()) for p in sys.argv[1:3])
    study = sys.argv[3] if len(sys.argv) > 3 else "demo"
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    seconds: dict[str, list[float]] = {old: [], new: []}
    for _ in range(rounds):
        for code in (old, new):
            out = subprocess.run([sys.executable, "-c", CHILD, code, study], capture_output=True, text=True,
                                 check=True).stdout.splitlines()[-1].split()
            seconds[code].append(float(out[0]))
            print(f"{code}: {out[0]} s, torch loaded {out[1]}, aihwkit loaded {out[2]}")
    mean = {k: sum(v) / len(v) for k, v in seconds.items()}
    print(f"mean: {mean[old]:.1f} s before, {mean[new]:.1f} s after (ratio {mean[new] / mean[old]:.2f})")


if __name__ == "__main__":
    main()
