"""The claims table at the top of every report: each claim of the registry (``claims_registry``)
tested across training seeds on its paired chip differences (``claims_chips``).

Why two levels: a chip interval is conditional on one trained model, so a verdict from one seed
can be an accident of that training run. Each claim is therefore measured per seed as a paired
difference over identical chips (averaged over the claim's settings chip by chip), and judged on
the mean over seeds with a 95% t-interval over seeds (``stats.across_seeds``). With one seed the
chip interval is all there is, and the table says the verdict belongs to that model only.

A verdict is one of: *holds*, *does not hold*, *equivalent* (two one-sided tests put the effect
inside a stated margin around zero), *undetermined* (too few seeds to tell; the row says how many
would decide it) or a significant *trade-off*. The headline rows are also held against the
paper's own magnitude (``vs_paper``): *reproduced*, *ruled out* or *undetermined*.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..study.schema import ClaimsSection
from .claims_chips import SETTING
from .claims_registry import CLAIMS, Claim
from .claims_text import per_seed_text, seed_values_text, settings_text
from .stats import holm, mean_ci
from .verdicts import MAX_COST, Evidence, decide, power_columns, statistics, vs_paper


def _per_seed(chips: pd.DataFrame) -> pd.DataFrame:
    """Per seed: the chip-by-chip mean over the row's settings, then mean ± chip CI over chips."""
    out = []
    for seed, part in chips.groupby("seed", sort=True):
        by_chip = part.groupby("trial")[["d_eodds", "d_f1"]].mean()  # each chip: mean over settings
        eo, eo_h = mean_ci(by_chip["d_eodds"])
        f1, f1_h = mean_ci(by_chip["d_f1"])
        base = float(part["base_eodds"].iloc[0])
        base_sd = float(part["base_sd"].iloc[0]) if "base_sd" in part else 0.0
        out.append({"seed": int(seed), "d_eodds": eo, "d_eodds_ci": eo_h, "d_f1": f1, "d_f1_ci": f1_h,
                    "rel_eodds": eo / base if base > 0 else math.nan, "chips": len(by_chip), "base_eodds": base,
                    "base_sd": 0.0 if math.isnan(base_sd) else base_sd,
                    "chip_eodds": by_chip["d_eodds"].to_numpy(), "chip_f1": by_chip["d_f1"].to_numpy()})
    return pd.DataFrame(out)


def _evidence(per_seed: pd.DataFrame, selection: int = 1) -> Evidence:
    """The replicates a row is judged on: seeds (their means), or with one seed that seed's chips
    against its one pre-trained gap, whose test-set variance then enters the relative interval."""
    n = len(per_seed)
    if n >= 2:
        return Evidence(per_seed["d_eodds"].to_numpy(float), per_seed["d_f1"].to_numpy(float),
                        per_seed["base_eodds"].to_numpy(float), "seeds", 0.0, selection, n)
    r = per_seed.iloc[0]
    return Evidence(np.asarray(r["chip_eodds"], float), np.asarray(r["chip_f1"], float),
                    np.full(len(r["chip_eodds"]), r["base_eodds"]), "chips", float(r["base_sd"]) ** 2, selection, 1)


def _seed_verdicts(claim: Claim, per_seed: pd.DataFrame, settings: ClaimsSection) -> list[str]:
    """Each seed's own verdict from its chips (unadjusted: context for the row, never its verdict)."""
    out = []
    for index in per_seed.index:
        stats_ = statistics(claim.kind, _evidence(per_seed.loc[[index]]), settings)
        out.append(decide(claim.kind, {**stats_, "p_family": stats_["p"]}, settings)[0])
    return out


def row_statistics(claim: Claim, per_seed: pd.DataFrame, settings: ClaimsSection, selection: int = 1) -> dict[str, Any]:
    """A row's statistics before its family is known: intervals, p-values, per-seed verdicts."""
    ev = _evidence(per_seed, selection)
    seed_verdicts = _seed_verdicts(claim, per_seed, settings)
    held = sum(v == "holds" for v in seed_verdicts)
    failed = sum(v == "does not hold" for v in seed_verdicts)
    return {"seeds": len(per_seed), "unit": ev.unit, **statistics(claim.kind, ev, settings),
            "paper_rel": claim.paper_rel,
            "per_seed": per_seed_text(per_seed["seed"], seed_verdicts),
            "seeds_disagree": bool(held and failed), "seeds_holding": held, "seeds_failing": failed,
            "_evidence": ev}


def decide_families(rows: list[dict[str, Any]], settings: ClaimsSection) -> pd.DataFrame:
    """Holm within each family (claim × scope), then each row's verdict, its reading against the
    paper, and power under these rules."""
    table = pd.DataFrame(rows)
    table["p_family"] = math.nan
    table["p_equivalence_family"] = math.nan
    table["family_size"] = 0
    for _, idx in table.groupby(["claim", "scope"], sort=False).groups.items():
        table.loc[idx, "p_family"] = holm(table.loc[idx, "p"].to_numpy(float))
        table.loc[idx, "p_equivalence_family"] = holm(table.loc[idx, "p_equivalence"].to_numpy(float))
        table.loc[idx, "family_size"] = int(table.loc[idx, "p"].notna().sum())
    verdicts, carried, papers, power = [], [], [], []
    for r in table.to_dict("records"):
        claim = CLAIMS[r["claim"]]
        v, by = decide(claim.kind, r, settings)
        paper = vs_paper(r, v, claim.paper_rel, settings)
        verdicts.append(v)
        carried.append(by)
        papers.append(paper)
        power.append(power_columns(claim.kind, r["_evidence"], {**r, "verdict": v, "carried_by": by, "vs_paper": paper},
                                   int(r["family_size"]), settings, claim.paper_rel))
    table["verdict"], table["carried_by"], table["vs_paper"] = verdicts, carried, papers
    return pd.concat([table.drop(columns="_evidence"), pd.DataFrame(power, index=table.index)], axis=1)


def claim_table(chips: pd.DataFrame, settings: ClaimsSection = ClaimsSection()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per claim × reading × comparison × error type (the preset), pooled over that error
    type's settings present in every seed (``scope = average``), and for claims held against the
    paper's magnitude and more than one setting a ``scope = best`` row at the setting with the most
    favourable mean; and the
    per-seed values behind each average row (forest plot)."""
    if chips.empty:
        return pd.DataFrame(), pd.DataFrame()
    rows, seeds_out = [], []
    n_seeds = chips["seed"].nunique()
    for (claim, reading, comp, preset), part in chips.groupby(["claim", "reading", "comparison", "preset"],
                                                             sort=False):
        per_setting = part.groupby(["intensity", "target"], dropna=False)["seed"].nunique()
        common = per_setting[per_setting == n_seeds].index  # settings every seed can test
        part = part[part.set_index(["intensity", "target"]).index.isin(common)]
        if part.empty:
            continue
        key = {"claim": claim, "reading": reading, "comparison": comp, "preset": preset}
        per_seed = _per_seed(part)
        rows.append({**key, "scope": "average", "settings": settings_text(common),
                     **row_statistics(CLAIMS[claim], per_seed, settings)})
        seeds_out += [{**key, **r.drop(["chip_eodds", "chip_f1"]).to_dict()} for _, r in per_seed.iterrows()]
        if CLAIMS[claim].paper_rel is not None and len(common) > 1:
            rows.append({**key, "scope": "best", **_best_row(CLAIMS[claim], part, settings, len(common))})
    table = decide_families(rows, settings)
    return _in_claim_order(table, ["claim", "reading", "preset", "comparison", "scope"]), pd.DataFrame(seeds_out)


def _best_row(claim: Claim, part: pd.DataFrame, settings: ClaimsSection, m: int) -> dict[str, Any]:
    """The setting with the largest mean fall of the gap among those whose mean F1 cost is under 1
    point (the claim is "up to 32% at < 1 point"; all settings if none is), its intervals
    simultaneous over all ``m`` settings (choosing the best is paid for); and whether every setting
    is ruled out against the paper, each at its own 95% level: "up to" is ruled out only when it is
    ruled out everywhere, an intersection-union test, whose size is at most that of each of its
    tests with no multiplicity correction (Berger 1982, Technometrics 24:295; Berger & Hsu 1996,
    Statistical Science 11:283). Bonferroni there would only cost power."""
    by_setting = part.groupby(["intensity", "target"], dropna=False)
    means = by_setting[["d_eodds", "d_f1"]].mean()
    cheap = means[means["d_f1"] > -MAX_COST]
    best = (cheap if len(cheap) else means)["d_eodds"].idxmin()
    every = True
    for setting, rows in by_setting:
        stats_ = statistics(claim.kind, _evidence(_per_seed(rows)), settings)
        every &= vs_paper(stats_, "", claim.paper_rel, settings) == "ruled out"
    chosen = part[(part["intensity"] == best[0]) & (part["target"] == best[1])]
    return {"settings": settings_text([best]), **row_statistics(claim, _per_seed(chosen), settings, selection=m),
            "every_setting_ruled_out": every}


def _in_claim_order(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    order = {k: i for i, k in enumerate(CLAIMS)}
    return df.sort_values(by, key=lambda c: c.map(order) if c.name == "claim" else c,
                          kind="stable").reset_index(drop=True)


def setting_table(chips: pd.DataFrame, settings: ClaimsSection = ClaimsSection()) -> pd.DataFrame:
    """The same comparisons one setting at a time (the detail behind each claims row); each claim's
    settings are one family (``scope = setting``)."""
    rows = []
    for key, part in chips.groupby(["claim", "reading", "comparison", *SETTING], sort=False, dropna=False):
        per_seed = _per_seed(part)
        rows.append({**dict(zip(["claim", "reading", "comparison", *SETTING], key)), "scope": "setting",
                     **row_statistics(CLAIMS[key[0]], per_seed, settings),
                     "seed_values": seed_values_text(per_seed)})
    return _in_claim_order(decide_families(rows, settings),
                           ["claim", "reading", "preset", "comparison", "intensity", "target"])
