"""Monte Carlo of the claims table's error rates at the demo's shape (issue 31): how often a row
is called *reproduced* at a true effect of half the paper's (−16%), at the paper's −32% with a
1.5-point F1 cost, and at −45% at no cost; and how often a family of rows with no true effect
yields any false *holds*. Every simulated row goes through the table's own code
(``claims_table.row_statistics`` and ``claims_table.decide_families``), not a re-implementation.

Model per seed i: pre-trained gap b_i ~ N(0.5, 0.1) (one test-set reading), Δgap
d_i = r·b_i + N(0, sd_rel·0.5) (so the per-seed relative change has sd ≈ sd_rel), ΔF1
f_i ~ N(−cost, sd_f1); each seed's chips scatter around its means.

    python benchmarks/verdict_error_rates.py            # the grid (about a minute on one core)
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fairxbar_aihw.report.claims_registry import CLAIMS  # noqa: E402
from fairxbar_aihw.report.claims_table import decide_families, row_statistics  # noqa: E402
from fairxbar_aihw.study.schema import ClaimsSection  # noqa: E402

BASE, BASE_SD, CHIPS = 0.5, 0.1, 5


def _per_seed(rng: np.random.Generator, true_rel: float, f1_cost: float, seeds: int, sd_rel: float,
              sd_f1: float) -> pd.DataFrame:
    b = rng.normal(BASE, BASE_SD, seeds)
    d = true_rel * b + rng.normal(0, sd_rel * BASE, seeds)
    f = rng.normal(-f1_cost, sd_f1, seeds)
    jitter = np.linspace(-1, 1, CHIPS)
    return pd.DataFrame({"seed": range(seeds), "d_eodds": d, "d_f1": f, "base_eodds": b, "base_sd": 0.0,
                         "d_eodds_ci": 0.0, "d_f1_ci": 0.0,
                         "chip_eodds": [di + 0.05 * jitter for di in d], "chip_f1": [fi + 0.005 * jitter for fi in f]})


def simulate(true_rel: float, f1_cost: float, sims: int = 1000, seed: int = 0, seeds: int = 5, sd_rel: float = 0.08,
             sd_f1: float = 0.005, rows: int = 1, claim: str = "e",
             settings: ClaimsSection = ClaimsSection()) -> dict[str, float]:
    """Shares of simulated families (``rows`` rows of claim ``claim``, average scope) in which a row
    is *reproduced*, *ruled out*, or any row *holds*."""
    rng = np.random.default_rng(seed)
    hits = {"reproduced": 0, "ruled out": 0, "family_holds": 0}
    for _ in range(sims):
        family = [{"claim": claim, "reading": "F+A R", "comparison": f"row {k}", "preset": "p", "scope": "average",
                   **row_statistics(CLAIMS[claim], _per_seed(rng, true_rel, f1_cost, seeds, sd_rel, sd_f1), settings)}
                  for k in range(rows)]
        table = decide_families(family, settings)
        hits["reproduced"] += bool((table["vs_paper"] == "reproduced").iloc[0])
        hits["ruled out"] += bool((table["vs_paper"] == "ruled out").iloc[0])
        hits["family_holds"] += bool((table["verdict"] == "holds").any())
    return {k: v / sims for k, v in hits.items()}


def main() -> None:
    t0 = time.time()
    print("claim (e), 5 seeds, average rows; per-seed sd of ΔF1 0.5 pt; 1000 simulated rows each\n")
    print("| true relative change | true F1 cost (pts) | sd of the relative change | reproduced | ruled out |")
    print("|---|---|---|---|---|")
    for rel, cost in ((-0.16, 0.0), (-0.32, 0.015), (-0.45, 0.0), (-0.32, 0.0), (-0.20, 0.0), (0.0, 0.0)):
        for sd in (0.08, 0.27):
            r = simulate(rel, cost, sd_rel=sd, seed=int(1000 * abs(rel) + 10 * sd))
            print(f"| {100 * rel:+.0f}% | {100 * cost:.1f} | {sd:.2f} | {100 * r['reproduced']:.1f}% | "
                  f"{100 * r['ruled out']:.1f}% |")
    print("\nFamilies of 4 rows with no true effect: share with any false *holds* (1000 families each)\n")
    print("| claim | kind | sd of the relative change | any row holds |")
    print("|---|---|---|---|")
    for claim in ("e", "a", "b", "d"):
        for sd in (0.08, 0.27):
            r = simulate(0.0, 0.0, sd_rel=sd, rows=4, claim=claim, seed=7 + int(100 * sd))
            print(f"| ({claim}) | {CLAIMS[claim].kind} | {sd:.2f} | {100 * r['family_holds']:.1f}% |")
    print(f"\n{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
