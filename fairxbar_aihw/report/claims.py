"""The paper's claims, tested across training seeds: the table at the top of every report.

Why two levels: a chip interval is conditional on one trained model, so a verdict from one seed
can be an accident of that training run. Each claim is therefore measured per seed as a paired
difference over identical chips (averaged over the claim's settings chip by chip), and judged on
the mean over seeds with a 95% t-interval over seeds (``stats.across_seeds``). With one seed the
chip interval is all there is, and the table says the verdict belongs to that model only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .stats import across_seeds, holm, mean_ci, verdict

PRE = "pre-trained"
SETTING = ["preset", "intensity", "target"]


@dataclass(frozen=True)
class Claim:
    """One claim of the paper: what it says, its short name in tables, and how a (ΔF1, ΔEOdds)
    interval pair decides it."""

    key: str
    text: str
    short: str
    kind: str  # lowers: ΔEOdds < 0 | beats: the paired verdict is "better" | cheap: ΔEOdds < 0 at < 1 pt F1


CLAIMS = {c.key: c for c in (
    Claim("a", "errors on FR-targeted weights lower EOdds (the paper: at an F1 cost)", "FR errors lower EOdds",
          "lowers"),
    Claim("b", "F+A R beats FR at matched error count (FR-matched: FR's weights at F+A R's per-layer counts)",
          "F+A R beats FR", "beats"),
    Claim("c", "VA/VFA-Retrain beat F+A R and the plain fine-tune control", "retraining beats", "beats"),
    Claim("c'", "VA/VFA-Retrain lower EOdds below the pre-trained model at < 1 pooled-F1 point "
          "(the paper: up to 32%)", "retraining is fairer, < 1 pt", "cheap"),
    Claim("d", "targeted errors (F+A R) beat the same number of random errors", "targeted beats random", "beats"),
    Claim("e", "F+A R lowers EOdds below the pre-trained model at < 1 pooled-F1 point (the paper's headline)",
          "F+A R is fairer, < 1 pt", "cheap"),
)}
MAX_COST = 0.01  # "< 1 point of the paper's pooled F1"


def decide(kind: str, d_f1: tuple[float, float], d_eodds: tuple[float, float]) -> str:
    """holds / does not hold / inconclusive for one claim from (mean, 95% half-width) pairs of A − B."""
    f1, f1_h = d_f1
    eo, eo_h = d_eodds
    if any(math.isnan(v) for v in (f1, f1_h, eo, eo_h)):
        return "inconclusive"
    if kind == "lowers":
        return "holds" if eo + eo_h < 0 else "does not hold" if eo - eo_h > 0 else "inconclusive"
    if kind == "cheap":
        if eo + eo_h < 0 and -f1 < MAX_COST:
            return "holds"
        if eo - eo_h > 0 or -(f1 + f1_h) > MAX_COST:
            return "does not hold"
        return "inconclusive"
    v = verdict(d_f1, d_eodds)
    if v == "better":
        return "holds"
    if v == "worse":
        return "does not hold"
    return "inconclusive" if v == "no significant difference" else f"inconclusive: {v}"


def _rule(label: str) -> str:
    return label[len("F+A R"):]  # "" or " [intersect]"


def comparisons(methods: list[str], arms: list[str], arm_reading: str) -> list[tuple[str, str, str, str]]:
    """(claim, reading, A, B) for every claim the run's methods and arms can test."""
    fa = [m for m in methods if m.partition(" [")[0] == "F+A R"]
    out = [("a", "—", "FR", PRE)] if "FR" in methods else []
    for reading in fa:
        out += [("b", reading, reading, f"FR-matched{_rule(reading)}"), ("d", reading, reading, f"random{_rule(reading)}"),
                ("e", reading, reading, PRE)]
    for arm in ("VA-Retrain", "VFA-Retrain"):
        if arm in arms:
            out += [("c", arm_reading, arm, arm_reading), ("c", arm_reading, arm, "Plain FT"),
                    ("c'", arm_reading, arm, PRE)]
    return out


def chip_differences(frames: dict[int, pd.DataFrame], arm_reading: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per chip, per setting, per seed: ΔEOdds and ΔF1 (pooled, eq. 3) of A − B over identical chips
    (B = the seed's own pre-trained model for claims against it). Second frame: the settings left
    out because the F+A R reading targets no weights there (comparing it would flatter it)."""
    rows, empty = [], []
    for seed, df in sorted(frames.items()):
        base = df[df["kind"] == "baseline"].iloc[0]
        chips = df[df["kind"].isin(["sweep", "retrain"])]
        arms = list(dict.fromkeys(chips.loc[chips["kind"] == "retrain", "method"]))
        methods = list(dict.fromkeys(chips.loc[chips["kind"] == "sweep", "method"]))
        for claim, reading, a_name, b_name in comparisons(methods, arms, arm_reading):
            a_all = chips[chips["method"] == a_name]
            for setting, a in a_all.groupby(SETTING, sort=True):
                cell = chips[(chips["preset"] == setting[0]) & (chips["intensity"] == setting[1])
                             & (chips["target"] == setting[2])]
                key = {"seed": seed, "claim": claim, "reading": reading, "comparison": f"{a_name} vs {b_name}",
                       **dict(zip(SETTING, setting))}
                fa = cell[cell["method"] == (reading if reading != "—" else "FR")]
                if claim != "a" and fa["targeted_fraction"].max() == 0:
                    empty.append(key)
                    continue
                a = a.set_index("trial")
                if b_name == PRE:
                    d_eo, d_f1 = a["eodds"] - base["eodds"], a["f1_micro"] - base["f1_micro"]
                else:
                    b = cell[cell["method"] == b_name].set_index("trial")
                    if b.empty:
                        continue
                    both = a.index.intersection(b.index)
                    d_eo = a.loc[both, "eodds"] - b.loc[both, "eodds"]
                    d_f1 = a.loc[both, "f1_micro"] - b.loc[both, "f1_micro"]
                rows += [{**key, "trial": int(t), "d_eodds": float(e), "d_f1": float(f),
                          "base_eodds": float(base["eodds"])} for t, e, f in zip(d_eo.index, d_eo, d_f1)]
    return pd.DataFrame(rows), pd.DataFrame(empty)


def _per_seed(chips: pd.DataFrame) -> pd.DataFrame:
    """Per seed: the chip-by-chip mean over the row's settings, then mean ± chip CI over chips."""
    out = []
    for seed, part in chips.groupby("seed", sort=True):
        by_chip = part.groupby("trial")[["d_eodds", "d_f1"]].mean()  # each chip: mean over settings
        eo, eo_h = mean_ci(by_chip["d_eodds"])
        f1, f1_h = mean_ci(by_chip["d_f1"])
        out.append({"seed": int(seed), "d_eodds": eo, "d_eodds_ci": eo_h, "d_f1": f1, "d_f1_ci": f1_h,
                    "chips": len(by_chip), "base_eodds": float(part["base_eodds"].iloc[0]),
                    "chip_eodds": by_chip["d_eodds"].to_numpy(), "chip_f1": by_chip["d_f1"].to_numpy()})
    return pd.DataFrame(out)


def _judge(claim: Claim, per_seed: pd.DataFrame) -> dict[str, Any]:
    """The row's interval (over seeds, or over chips with one seed) and its verdicts."""
    n = len(per_seed)
    if n >= 2:
        eo = across_seeds(per_seed["d_eodds"])
        f1 = across_seeds(per_seed["d_f1"])
    else:
        eo = (*mean_ci(per_seed["chip_eodds"].iloc[0]), _chip_p(per_seed["chip_eodds"].iloc[0]))
        f1 = (float(per_seed["d_f1"].iloc[0]), float(per_seed["d_f1_ci"].iloc[0]),
              _chip_p(per_seed["chip_f1"].iloc[0]))
    # the row's test: ΔEOdds for claims about EOdds; for "beats" either metric may decide the
    # verdict, so the smaller p of the two, doubled (Bonferroni within the row)
    p = eo[2] if claim.kind != "beats" else min(1.0, 2 * min(eo[2], f1[2]))
    seed_verdicts = [decide(claim.kind, (r.d_f1, r.d_f1_ci), (r.d_eodds, r.d_eodds_ci)) for r in per_seed.itertuples()]
    held = sum(v == "holds" for v in seed_verdicts)
    failed = sum(v == "does not hold" for v in seed_verdicts)
    base = float(per_seed["base_eodds"].mean())
    return {"seeds": n, "d_eodds": eo[0], "d_eodds_ci": eo[1], "d_f1": f1[0], "d_f1_ci": f1[1], "p": p,
            "rel_eodds": float(np.mean([d / b if b > 0 else math.nan for b, d in zip(per_seed["base_eodds"],
                                                                                  per_seed["d_eodds"])])),
            "base_eodds": base, "verdict": decide(claim.kind, f1[:2], eo[:2]),
            "per_seed": "; ".join(f"{s}: {_short(v)}" for s, v in zip(per_seed["seed"], seed_verdicts)),
            "seeds_disagree": bool(held and failed), "seeds_holding": held, "seeds_failing": failed}


def _chip_p(values: np.ndarray) -> float:
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if v.size < 2 or np.std(v) == 0:
        return math.nan
    return float(stats.ttest_1samp(v, 0.0).pvalue)


def _short(v: str) -> str:
    return {"holds": "holds", "does not hold": "fails"}.get(v, "n.s." if v == "inconclusive" else "trade-off")


def claim_table(chips: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per claim × reading × comparison × error type (the preset), pooled over that error
    type's settings present in every seed; and the per-seed values behind each row (forest plot).
    Holm's adjustment runs over every row with a p-value (the whole table is one family)."""
    if chips.empty:
        return pd.DataFrame(), pd.DataFrame()
    rows, seeds_out = [], []
    n_seeds = chips["seed"].nunique()
    for (claim, reading, comp, preset), part in chips.groupby(["claim", "reading", "comparison", "preset"],
                                                             sort=False):
        per_setting = part.groupby(["intensity", "target"], dropna=False)["seed"].nunique()
        common = per_setting[per_setting == n_seeds].index  # settings every seed can test
        keep = part.set_index(["intensity", "target"]).index.isin(common)
        part = part[keep]
        if part.empty:
            continue
        per_seed = _per_seed(part)
        settings = ", ".join(f"{i:g} @ {_target(t)}" for i, t in common)
        row = {"claim": claim, "reading": reading, "comparison": comp, "preset": preset, "settings": settings,
               **_judge(CLAIMS[claim], per_seed)}
        rows.append(row)
        seeds_out += [{**{k: row[k] for k in ("claim", "reading", "comparison", "preset")},
                       **r.drop(["chip_eodds", "chip_f1"]).to_dict()} for _, r in per_seed.iterrows()]
    table = _in_claim_order(pd.DataFrame(rows), ["claim", "reading", "preset", "comparison"])
    table["p_holm"] = holm(table["p"].to_numpy())
    return table, pd.DataFrame(seeds_out)


def _in_claim_order(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    order = {k: i for i, k in enumerate(CLAIMS)}
    return df.sort_values(by, key=lambda c: c.map(order) if c.name == "claim" else c,
                          kind="stable").reset_index(drop=True)


def setting_table(chips: pd.DataFrame) -> pd.DataFrame:
    """The same comparisons one setting at a time (the detail behind each claims row)."""
    rows = []
    for key, part in chips.groupby(["claim", "reading", "comparison", *SETTING], sort=False, dropna=False):
        per_seed = _per_seed(part)
        rows.append({**dict(zip(["claim", "reading", "comparison", *SETTING], key)),
                     **_judge(CLAIMS[key[0]], per_seed),
                     "seed_values": "; ".join(f"{r.seed}: {r.d_eodds:+.3f} ± {r.d_eodds_ci:.3f}"
                                              for r in per_seed.itertuples())})
    return _in_claim_order(pd.DataFrame(rows), ["claim", "reading", "preset", "comparison", "intensity", "target"])


def _target(t: Any) -> str:
    return "all" if t is None or pd.isna(t) else f"{100 * float(t):g}%"


def pm(m: float, h: float, scale: float = 1.0, digits: int = 3) -> str:
    if pd.isna(m):
        return "n/a"
    return f"{m * scale:+.{digits}f}" + ("" if pd.isna(h) else f" ± {h * scale:.{digits}f}")


def markdown(table: pd.DataFrame, empty: pd.DataFrame, figure: str | None, study_seeds: int = 1) -> list[str]:
    """The claims section: the table, how it was decided, and what was left out. ``study_seeds`` >
    1 marks a one-seed table as one seed of a study judged across seeds elsewhere."""
    if table.empty:
        return ["## The paper's claims", "", "No claim can be tested: the run has no sweep rows yet.", ""]
    n_seeds = int(table["seeds"].max())
    tested = int(table["p"].notna().sum())
    lines = ["## The paper's claims", ""]
    if n_seeds >= 2:
        lines += [f"Each row: A − B over identical chips, per seed averaged chip by chip over the error type's "
                  f"settings, then the **mean over {n_seeds} training seeds ± 95% t-interval over seeds** "
                  f"(t with {n_seeds - 1} degrees of freedom). A verdict *holds* only when the interval over "
                  "seeds says so; *per seed* is each seed's own verdict from its chip interval.", ""]
    else:
        lines += ["**One training seed**: each interval is over chips of this one trained model, so a verdict "
                  "belongs to this model, not to the method. " + (
                      f"The verdicts across all {study_seeds} seeds of this study are in [its report](../README.md)."
                      if study_seeds > 1 else "Run the study with ≥ 3 seeds for a verdict that survives "
                      "retraining."), ""]
    present = list(dict.fromkeys(table["claim"]))
    lines += [f"- **({k})** {CLAIMS[k].text}" for k in present] + [""]
    lines += ["| claim | F+A R reading | A vs B | error type | ΔEOdds | ΔEOdds / pre-trained EOdds | "
              "ΔF1 pooled (pts) | verdict | per seed | Holm p |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        disagree = " **(seeds disagree)**" if r.seeds_disagree else ""
        rel = "n/a" if pd.isna(r.rel_eodds) else f"{100 * r.rel_eodds:+.1f}%"
        lines.append(f"| ({r.claim}) {CLAIMS[r.claim].short} | {r.reading} | {r.comparison} | {r.preset} | "
                     f"{pm(r.d_eodds, r.d_eodds_ci)} | {rel} | {pm(r.d_f1, r.d_f1_ci, 100, 2)} | "
                     f"**{r.verdict}**{disagree} | {r.per_seed} | "
                     f"{'n/a' if pd.isna(r.p_holm) else f'{r.p_holm:.3f}'} |")
    held = table[table["verdict"] == "holds"]
    survive = held[held["p_holm"] < 0.05]
    lines += ["", f"ΔEOdds < 0: A fairer (the paper's 32% gain is −32% in the relative column, the mean over "
              f"seeds of ΔEOdds over that seed's pre-trained EOdds). ΔF1 < 0: A less accurate. Verdicts use "
              f"unadjusted 95% intervals over {'seeds' if n_seeds >= 2 else 'chips'}; the table makes **{tested} "
              f"comparisons**, and the Holm column adjusts each row's p-value (one-sample t-test"
              f"{' over seeds' if n_seeds >= 2 else ' over chips'}: of ΔEOdds, or for *beats* rows the smaller of "
              f"ΔEOdds' and ΔF1's, doubled) for all of them: {len(held)} verdict(s) hold unadjusted, "
              f"{len(survive)} of them also {'survives' if len(survive) == 1 else 'survive'} Holm at 5%."]
    if len(empty):
        left = empty.drop_duplicates(["reading", "preset", "intensity", "target"])
        where = sorted({f"{r.reading} at {_target(r.target)} ({r.preset} {r.intensity:g})" for r in left.itertuples()})
        seeds = sorted(int(s) for s in empty["seed"].unique())
        lines += ["", f"Left out (the reading targets no weights, so its rows equal the pre-trained model): "
                  f"{'; '.join(where)} — in seed(s) {seeds}."]
    disagree = table[table["seeds_disagree"]]
    if len(disagree):
        lines += ["", f"**Seeds disagree** on {len(disagree)} row(s): at least one seed's chips say the claim holds "
                  "and another's say it fails. There the answer depends on the training run."]
    if figure:
        lines += ["", f"![Claims per seed and across seeds]({figure})"]
    return lines + [""]
