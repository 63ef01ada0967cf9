"""A study's Monte-Carlo stage alone vs beside one CPU-bound neighbour, code BEFORE vs now.

    python benchmarks/bench_shared_cpu.py [--before REF] [--repeats 3]

Why: on a shared 2-core machine a study should cost about its fair share (2×) beside one busy
process, not collapse (issue 24 measured 3.5× beside a torch program). Each measurement runs the
`inject` stage of a small synthetic study in a fresh copy of one prepared run folder (trained
model and curvature cached, no chip rows), and reads the stage's own timing from the results
database, so process start-up and model loading are left out. Neighbours:

- ``busy``: a single-threaded Python busy loop;
- ``torch``: a torch program multiplying matrices with torch's default threads and wait policy
  (what another user's training script is);
- ``study``: a second copy of the same stage started at the same moment (two studies side by
  side; their pair's wall time is also compared with running the two one after the other).

Variants and neighbours are interleaved round-robin and each cell reports the median over
``--repeats``, so machine noise hits all alike. Run it alone: no other job on the CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = """\
description: Shared-CPU benchmark (synthderm, SYNTHETIC)
seeds: [0]
dataset: {name: synthderm, size: 32, params: {n: 3000, num_classes: 4}}
model: {name: small-cnn}
train: {epochs: 1, batch_size: 128}
saliency: {estimator: hessian-exact, samples_per_group: 128, batch_size: 128}
sweep:
  methods: [random, FR, "F+A R"]
  targets: [0.4]
  hardware: [{preset: paper-variation, intensities: [0.1]}]
  trials: %(trials)d
"""
NEIGHBOURS = {
    "busy": [sys.executable, "-c", "while True: pass"],
    "torch": [sys.executable, "-c", "import torch\nx = torch.randn(512, 512)\nwhile True: x = torch.tanh(x @ x)"],
}


def cli(src: Path, work: Path, runs: Path, *args: str, extra: dict[str, str] | None = None) -> subprocess.Popen:
    """The command line of source tree ``src`` on the benchmark study, results in ``runs``, with
    ``extra`` environment variables (e.g. an OpenMP wait setting)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAIRXBAR_", "OMP_", "GOMP_", "MKL_"))}
    env.update(extra or {})
    env.update(PYTHONPATH=str(src), FAIRXBAR_STUDIES=str(work / "studies"), FAIRXBAR_RUNS=str(runs),
               FAIRXBAR_REPORTS=str(work / "reports"))
    return subprocess.Popen([sys.executable, "-m", "fairxbar_aihw.cli", *args, "bench", "--no-progress"],
                            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stage_seconds(runs: Path) -> float:
    """The ``inject`` stage's own time, as the run recorded it."""
    con = sqlite3.connect(runs / "bench" / "results.sqlite")
    (value,) = con.execute("SELECT value_json FROM meta WHERE key='timings'").fetchone()
    con.close()
    return float(json.loads(value)["inject"])


def prepared(src: Path, work: Path, label: str) -> Path:
    """A run folder with the model trained and the curvature cached, and no chip rows yet."""
    runs = work / f"template-{label}"
    p = cli(src, work, runs, "saliency")
    if p.wait() != 0:
        sys.exit(f"preparing {label} failed: {p.stderr.read()}")
    return runs


def inject_in_copies(src: Path, work: Path, template: Path, copies: int,
                     extra: dict[str, str] | None = None) -> tuple[list[float], float]:
    """``copies`` simultaneous inject stages in fresh copies of ``template``: their stage times and the wall."""
    folders = []
    for _ in range(copies):
        runs = Path(tempfile.mkdtemp(dir=work))
        shutil.copytree(template, runs, dirs_exist_ok=True)
        folders.append(runs)
    t0 = time.perf_counter()
    procs = [cli(src, work, runs, "inject", extra=extra) for runs in folders]
    for p in procs:
        if p.wait() != 0:
            sys.exit(f"inject failed: {p.stderr.read()}")
    wall = time.perf_counter() - t0
    seconds = [stage_seconds(runs) for runs in folders]
    for runs in folders:
        shutil.rmtree(runs)
    return seconds, wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default=None, help="git ref of the code to compare with (default: none)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--trials", type=int, default=30, help="chips per cell (3 cells)")
    ap.add_argument("--env", action="append", default=[], metavar="LABEL:VAR=VALUE[,VAR=VALUE]",
                    help="also run the current code with these environment variables (repeatable), "
                    "e.g. spin:GOMP_SPINCOUNT=300000")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-shared-"))
    (work / "studies").mkdir()
    (work / "studies" / "bench.yaml").write_text(STUDY % {"trials": args.trials})
    sources = {"now": ROOT}
    if args.before:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(work / "before-src"),
                        args.before], check=True)
        sources = {"before": work / "before-src", "now": ROOT}
    extras: dict[str, dict[str, str]] = {label: {} for label in sources}
    for spec in args.env:
        label, _, assignments = spec.partition(":")
        sources[label] = ROOT
        extras[label] = dict(a.split("=", 1) for a in assignments.split(",") if a)
    try:
        templates = {label: prepared(src, work, label) for label, src in sources.items() if src != ROOT or label == "now"}
        templates.update({label: templates["now"] for label in sources if label not in templates})
        cells: dict[tuple[str, str], list[float]] = {}
        pair_wall: dict[str, list[float]] = {label: [] for label in sources}
        for _ in range(args.repeats):
            for label, src in sources.items():
                for neighbour in ("alone", *NEIGHBOURS):
                    proc = None
                    if neighbour != "alone":
                        proc = subprocess.Popen(NEIGHBOURS[neighbour], stdout=subprocess.DEVNULL)
                        time.sleep(1.0)  # let it reach full speed
                    try:
                        (seconds,), _ = inject_in_copies(src, work, templates[label], 1, extras[label])
                    finally:
                        if proc is not None:
                            proc.kill()
                            proc.wait()
                    cells.setdefault((label, neighbour), []).append(seconds)
                seconds, wall = inject_in_copies(src, work, templates[label], 2, extras[label])
                cells.setdefault((label, "study"), []).append(max(seconds))
                pair_wall[label].append(wall)
                (alone_a,), wall_a = inject_in_copies(src, work, templates[label], 1, extras[label])
                (alone_b,), wall_b = inject_in_copies(src, work, templates[label], 1, extras[label])
                pair_wall[label + " sequential"] = pair_wall.get(label + " sequential", []) + [wall_a + wall_b]
        machine = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in machine.splitlines() if ln.startswith("Model name")), "?")
        print(f"machine: {model}, {os.cpu_count()} cores; {args.repeats} repeats, {3 * args.trials} chips per stage")
        print("| code | alone s | beside busy loop | beside torch program | beside a 2nd study | "
              "2 studies side by side vs one after the other |")
        print("|---|---|---|---|---|---|")
        for label in sources:
            alone = statistics.median(cells[(label, "alone")])
            ratios = [statistics.median(cells[(label, n)]) / alone for n in ("busy", "torch", "study")]
            pair = statistics.median(pair_wall[label]) / statistics.median(pair_wall[label + " sequential"])
            print(f"| {label} | {alone:.2f} | " + " | ".join(f"{r:.2f}×" for r in ratios) + f" | {pair:.2f}× |")
    finally:
        if args.before:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "before-src")])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
