"""Where to spend compute: more chips per seed, or more seeds? Read from a finished multi-seed run.

For each row of the claims table, the per-seed value is a mean over c chips, so across seeds its
variance is σ²_seed + σ²_chip / c. This script estimates σ²_chip (the within-seed chip variance of
the paired difference, pooled over seeds) and σ²_seed (the variance of the per-seed means minus
the chip part, floored at 0), then predicts the half-width of the 95% t-interval over seeds,
t(n − 1) · sqrt((σ²_seed + σ²_chip / c) / n), for other seed and chip counts.

    python benchmarks/bench_seed_variance.py runs/demo          # after `fairxbar-aihw study demo`
"""
from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from fairxbar_aihw.report.claims_chips import chip_differences
from fairxbar_aihw.report.stats import t_crit
from fairxbar_aihw.store import ResultsStore


def frames(run_folder: Path) -> dict[int, pd.DataFrame]:
    db = run_folder / "results.sqlite"
    store = ResultsStore(db, read_only=True)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        runs = conn.execute("SELECT run_id, config_json FROM runs").fetchall()
    return {json.loads(cfg)["seed"]: store.to_frame(run_id) for run_id, cfg in runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_folder", type=Path)
    ap.add_argument("--reading", default="F+A R", help="the retrained arms' F+A R reading")
    args = ap.parse_args()
    chips, _ = chip_differences(frames(args.run_folder), args.reading)
    if chips.empty or chips["seed"].nunique() < 2:
        sys.exit("needs a run with ≥ 2 seeds")
    rows = []
    for (claim, comp, preset), part in chips.groupby(["claim", "comparison", "preset"], sort=False):
        by_chip = part.groupby(["seed", "trial"])["d_eodds"].mean().unstack("trial")
        c = by_chip.shape[1]
        n = by_chip.shape[0]
        within = float(np.nanmean(by_chip.var(axis=1, ddof=1)))
        means = by_chip.mean(axis=1)
        between = max(0.0, float(means.var(ddof=1)) - within / c)
        def half(n_seeds: int, n_chips: int) -> float:
            return t_crit(n_seeds - 1) * math.sqrt((between + within / n_chips) / n_seeds)
        rows.append({"claim": claim, "comparison": comp, "preset": preset, "seeds": n, "chips": c,
                     "chip share": (within / c) / (between + within / c) if between + within > 0 else float("nan"),
                     "±now": half(n, c), "±3× chips": half(n, 3 * c), "±5 seeds": half(5, c),
                     "±5 seeds, same compute": half(5, max(2, round(n * c / 5)))})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print(table.to_string(index=False))
    print("\nmedian ratio to the current half-width:")
    now = "±now"
    for col in ("±3× chips", "±5 seeds", "±5 seeds, same compute"):
        print(f"  {col}: {float((table[col] / table[now]).median()):.2f}×")


if __name__ == "__main__":
    main()
