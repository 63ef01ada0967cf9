"""Does a study's finding survive retraining? ``docs/reports/<study>-seeds/README.md``.

One study run per seed (the seed drives data generation or the split, weight init, data order,
curvature probes and chip seeds), each with its own paired Monte-Carlo comparisons; this report
puts them side by side and adds the across-seed mean with a 95% t-interval over seeds, which is
the uncertainty that matters when asking whether the effect belongs to the method or to one
training run. Built from the results databases alone.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..metrics import improvement
from .figures import seed_forest
from .markdown import target_label
from .stats import mean_ci, paired_comparison, verdict

COMPARISONS = [("F+A R", "FR"), ("F+A R", "FR-matched"), ("F+A R", "random"), ("F+A R", "uniform")]


def _pm(mean: float, ci: float, scale: float = 1.0, digits: int = 3) -> str:
    return "n/a" if pd.isna(mean) else f"{mean * scale:+.{digits}f} ± {ci * scale:.{digits}f}"


def _cells(sweep: pd.DataFrame, preset: str, intensity: float, target: float, method: str) -> pd.DataFrame:
    same = (sweep["preset"] == preset) & (sweep["intensity"] == intensity) & (sweep["method"] == method)
    if method == "uniform":  # uniform errors hit every weight: it has no target
        return sweep[same]
    return sweep[same & (sweep["target"] == target)]


def seed_rows(frames: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """One row per (seed, setting, comparison): paired ΔF1 / ΔEOdds (A − B) over identical chips,
    and for 'F+A R vs pre-trained' the EOdds change relative to that seed's own baseline."""
    rows = []
    for seed, df in sorted(frames.items()):
        base = df[df["kind"] == "baseline"].iloc[0]
        sweep = df[df["kind"] == "sweep"]
        settings = sweep[sweep["method"] == "F+A R"][["preset", "intensity", "target"]].drop_duplicates()
        for _, s in settings.iterrows():
            key = {"seed": seed, "preset": s["preset"], "intensity": s["intensity"], "target": s["target"]}
            far = _cells(sweep, s["preset"], s["intensity"], s["target"], "F+A R")
            hit = float(far["targeted_fraction"].max())
            if hit == 0:  # F+A R left the model untouched: any comparison would only measure rounding
                rows.append({**key, "comparison": "F+A R targets nothing", "targeted": 0.0})
                continue
            eo, eo_ci = mean_ci(far["eodds"])
            f1, f1_ci = mean_ci(far["f1_micro"])  # the paper's pooled F1 (eq. 3)
            rows.append({**key, "comparison": "F+A R vs pre-trained", "targeted": hit,
                         "d_eodds": eo - base["eodds"], "d_eodds_ci": eo_ci,
                         "d_f1": f1 - base["f1_micro"], "d_f1_ci": f1_ci,
                         "rel_eodds": improvement(base["eodds"], eo),
                         "verdict": verdict((f1 - base["f1_micro"], f1_ci), (eo - base["eodds"], eo_ci))})
            for a_name, b_name in COMPARISONS:
                b = _cells(sweep, s["preset"], s["intensity"], s["target"], b_name)
                if b.empty:
                    continue
                c = paired_comparison(far, b)
                rows.append({**key, "comparison": f"{a_name} vs {b_name}", "targeted": hit, "rel_eodds": float("nan"),
                             **{k: c[k] for k in ("d_eodds", "d_eodds_ci", "d_f1", "d_f1_ci", "verdict")}})
    return pd.DataFrame(rows)


def _short(v: str) -> str:
    return {"better": "better", "worse": "worse", "no significant difference": "n.s."}.get(v, "trade-off")


def write_seed_report(name: str, frames: dict[int, pd.DataFrame], baselines: dict[int, pd.Series],
                      out: Path, synthetic: bool) -> Path:
    """Write the cross-seed report; ``frames`` are each seed's trial rows (sweep + baseline)."""
    out.mkdir(parents=True, exist_ok=True)
    seeds = sorted(frames)
    rows = seed_rows(frames)
    untouched = rows[rows["comparison"] == "F+A R targets nothing"] if not rows.empty else rows
    rows = rows[rows["comparison"] != "F+A R targets nothing"] if not rows.empty else rows
    lines = [f"# Study `{name}` across {len(seeds)} training seeds", ""]
    if synthetic:
        lines += ["> **SYNTHETIC DATA.** `synthderm` images; no real patients.", ""]
    lines += ["Each seed is a full replicate: the seed drives the data (generation or split), weight init, "
              "data order, curvature probes and chip seeds. Per seed: mean ± 95% CI over that seed's paired "
              "Monte-Carlo chips. **Across seeds**: mean of the per-seed means ± 95% t-interval over seeds — "
              "the uncertainty that says whether a finding belongs to the method or to one training run.", "",
              "## Pre-trained models", "",
              "| seed | macro-F1 | EOdds | acc unpriv. | acc priv. |", "|---|---|---|---|---|"]
    for s in seeds:
        b = baselines[s]
        lines.append(f"| {s} | {b['f1_macro']:.3f} | {b['eodds']:.3f} | {b['acc_g0']:.3f} | {b['acc_g1']:.3f} |")
    across = [mean_ci([baselines[s][k] for s in seeds]) for k in ("f1_macro", "eodds", "acc_g0", "acc_g1")]
    lines += ["| across | " + " | ".join(f"{m:.3f} ± {ci:.3f}" for m, ci in across) + " |", ""]
    lines += ["## Comparisons", "",
              "ΔEOdds and ΔF1 (the paper's pooled F1, eq. 3) are A − B (negative ΔEOdds = A fairer); for *F+A R vs pre-trained*, B is the "
              "seed's own pre-trained model.", "",
              "| preset | intensity | target | comparison | " + " | ".join(f"seed {s}: ΔEOdds (verdict)" for s in seeds)
              + " | across seeds: ΔEOdds | across seeds: ΔF1 (pts) | better / worse / other |",
              "|---|---|---|---|" + "---|" * len(seeds) + "---|---|---|"]
    summary: dict[str, list[int]] = {}
    if not rows.empty:
        for (preset, intensity, target, comp), part in rows.groupby(
                ["preset", "intensity", "target", "comparison"], sort=True, dropna=False):
            by_seed = {int(r["seed"]): r for _, r in part.iterrows()}
            cells = [f"{_pm(by_seed[s]['d_eodds'], by_seed[s]['d_eodds_ci'])} ({_short(by_seed[s]['verdict'])})"
                     if s in by_seed else "F+A R targets nothing" for s in seeds]
            verdicts = [by_seed[s]["verdict"] for s in by_seed]
            tally = [sum(v == "better" for v in verdicts), sum(v == "worse" for v in verdicts)]
            tally.append(len(verdicts) - sum(tally))
            t = summary.setdefault(comp, [0, 0, 0])
            for i in range(3):
                t[i] += tally[i]
            lines.append(f"| {preset} | {intensity:g} | {target_label(target)} | {comp} | " + " | ".join(cells)
                         + f" | {_pm(*mean_ci(part['d_eodds']))} | {_pm(*mean_ci(part['d_f1']), scale=100, digits=2)}"
                         f" | {tally[0]} / {tally[1]} / {tally[2]} |")
    if not rows.empty:
        lines += ["", f"![ΔEOdds per seed]({seed_forest(rows, out)})"]
    lines += ["", "## What holds across seeds", ""]
    if not summary:
        lines.append("- F+A R targeted no weights in any setting of any seed: nothing to compare.")
    for (preset, intensity, target), part in untouched.groupby(["preset", "intensity", "target"], sort=True):
        lines.append(f"- **F+A R at {target_label(target)} targets no weights** ({preset} {intensity:g}) in seeds "
                     f"{sorted(int(s) for s in part['seed'])}: the fairness and accuracy sets do not intersect, "
                     "so there is nothing to compare there.")
    for comp, (better, worse, other) in summary.items():
        n = better + worse + other
        lines.append(f"- **{comp}**: better in {better} of {n} (seed, setting) pairs, worse in {worse}, "
                     f"mixed or not significant in {other}.")
    if not rows.empty:
        far = rows[(rows["comparison"] == "F+A R vs pre-trained") & (rows["targeted"] > 0)]
        fair = far[(far["d_eodds"] + far["d_eodds_ci"] < 0) & (-100 * far["d_f1"] < 1.0)]
        lines.append(f"- **The paper's effect** (F+A R significantly fairer than the pre-trained model for < 1 F1 "
                     f"point): in {len(fair)} of {len(far)} (seed, setting) pairs where F+A R targets any weight"
                     + (f", in seeds {sorted(set(int(s) for s in fair['seed']))}." if len(fair) else
                        ". It does not appear on this data."))
    path = out / "README.md"
    path.write_text("\n".join(lines) + "\n")
    rows.to_csv(out / "seed_comparisons.csv", index=False, float_format="%.6g")
    return path
