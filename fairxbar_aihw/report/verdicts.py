"""The decision rules of the claims table: from one row's replicates to its verdict, its reading
against the paper's magnitude, and the seeds that would decide it.

Why these rules (a referee's reading of the paper's claims):
- **Families.** Each claim is tested on several readings, error types and comparisons; a verdict
  *holds* or *does not hold* only on its Holm-adjusted p-value within its family (the claim's
  rows of one scope; Holm, Scand. J. Statist. 1979). Significant before adjustment only:
  *suggestive*, which is not a verdict.
- **Trade-offs.** A *beats* claim is about a better fairness–accuracy trade-off: one metric must
  improve (the row's p is the smaller of the two metrics' p-values, doubled) and the other must be
  shown not worse than the study's non-inferiority margin.
- **Cheap.** "< 1 point of F1" is tested: the F1 cost's 95% upper bound must be < 1 point.
- **Equivalence** (two one-sided tests, Schuirmann 1987, Holm-adjusted in the family) is a
  statement about a method, so it needs at least ``MIN_EQUIVALENCE_SEEDS`` training seeds.
- **Reproduced** must be earned: the claim holds, the relative change's interval excludes effects
  smaller than ``paper_fraction`` of the paper's magnitude, and the F1 cost is bounded under 1 point.
  *Ruled out*: the F1 cost exceeds 1 point at 95%, or the paper's magnitude is excluded.
- **Settings** (the gap metric, the margins, ``paper_fraction``) are the study's ``claims`` section
  (``study.schema.ClaimsSection``), read as it is: its defaults and ranges are defined once.
- **One relative change**: the ratio of the mean Δgap to the mean pre-trained gap over seeds with
  Fieller's interval (``stats.ratio_interval``); no seed is dropped for a base ≤ 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..study.schema import ClaimsSection
from .stats import (ALPHA, mean_ci, min_detectable, one_sided_power, ratio_interval, ratio_p, replicates_needed,
                    t_power, t_test_p, tost, tost_power, verdict as paired_verdict)

MAX_COST = 0.01  # "< 1 point of the paper's pooled F1"
MIN_EQUIVALENCE_SEEDS = 3  # equivalence is a statement about a method: never from one model's chips
UNDECIDED = ("undetermined", "suggestive")


@dataclass
class Evidence:
    """One row's replicates: per seed (or, with one seed, per chip) Δgap ``d``, ΔF1 ``f`` and the
    pre-trained gap ``b`` (constant over chips). ``base_var``: the sampling variance of a single
    fixed base (one seed's test set), zero when the bases vary over seeds (it is then inside their
    spread). ``selection``: how many settings the row was chosen among (a best-setting row pays
    for choosing, Bonferroni)."""

    d: np.ndarray
    f: np.ndarray
    b: np.ndarray
    unit: str = "seeds"
    base_var: float = 0.0
    selection: int = 1
    seeds: int = 0

    @property
    def alpha(self) -> float:
        return ALPHA / self.selection


def _p(values: np.ndarray, selection: int) -> float:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size < 2:
        return math.nan
    if np.std(v) == 0:
        return 1.0 if v.mean() == 0 else 0.0
    return min(1.0, selection * t_test_p(v))


def _tost_ratio(ev: Evidence, margin: float) -> float:
    """p of the two one-sided tests that the ratio mean(d)/mean(b) lies inside ±margin."""
    return max(ratio_p(ev.d, ev.b, -margin, "above", ev.base_var), ratio_p(ev.d, ev.b, margin, "below", ev.base_var))


def statistics(kind: str, ev: Evidence, settings: ClaimsSection) -> dict[str, Any]:
    """Means, intervals (at the row's level: 95%, or 95% simultaneous over the settings a best row
    was chosen among), the row's p-value and its equivalence p-value."""
    alpha = ev.alpha
    eo, eo_h = mean_ci(ev.d, alpha)
    f1, f1_h = mean_ci(ev.f, alpha)
    if len(ev.d) < 2:
        eo_h = f1_h = math.nan
    rel, rel_lo, rel_hi = ratio_interval(ev.d, ev.b, alpha, ev.base_var)
    p_eo, p_f1 = _p(ev.d, ev.selection), _p(ev.f, ev.selection)
    p = p_eo if kind != "beats" else (min(1.0, 2 * min(p_eo, p_f1)) if not (math.isnan(p_eo) or math.isnan(p_f1))
                                      else math.nan)
    p_eq = math.nan
    if ev.seeds >= MIN_EQUIVALENCE_SEEDS and ev.unit == "seeds" and ev.selection == 1:
        p_eq = _tost_ratio(ev, settings.equivalence_eodds)
        if kind == "beats":
            p_eq = max(p_eq, tost(ev.f, settings.equivalence_f1)[1])
    base = float(np.mean(ev.b))
    return {"d_eodds": eo, "d_eodds_ci": eo_h, "d_f1": f1, "d_f1_ci": f1_h, "p": p, "p_eodds": p_eo, "p_f1": p_f1,
            "rel_eodds": rel, "rel_eodds_lo": rel_lo, "rel_eodds_hi": rel_hi, "base_eodds": base,
            "bases_nonpositive": int(np.sum(np.asarray(ev.b) <= 0)) if ev.unit == "seeds" else int(base <= 0),
            "p_equivalence": p_eq, "level": 1 - alpha}


def decide(kind: str, r: dict[str, Any], settings: ClaimsSection = ClaimsSection()) -> tuple[str, str]:
    """(verdict, what carried it) for one row from its statistics and its family-adjusted p-values
    ``p_family`` and ``p_equivalence_family``.

    lowers: the gap falls. cheap: the gap falls and the F1 cost's upper bound is < 1 point.
    beats: one metric improves and the other is not worse than the non-inferiority margin."""
    eo, eo_h, f1, f1_h = r["d_eodds"], r["d_eodds_ci"], r["d_f1"], r["d_f1_ci"]
    if any(math.isnan(v) for v in (eo, eo_h, f1, f1_h, r["p"])):
        return "undetermined", ""
    significant = r["p_family"] < ALPHA
    if kind in ("lowers", "cheap"):
        cost_over = f1 + f1_h < -MAX_COST  # the F1 cost exceeds 1 point at the row's level
        if kind == "cheap" and cost_over:
            return "does not hold", "F1 cost > 1 pt"
        if significant and eo > 0:
            return "does not hold", "EOdds"
        if significant and eo < 0:
            if kind == "lowers" or f1 - f1_h > -MAX_COST:
                return "holds", "EOdds" if kind == "lowers" else "EOdds, F1 cost < 1 pt"
            return "undetermined", "fairer; F1 cost bound not < 1 pt"
    else:
        # every route to "holds": a metric that improves, passes the family's test on its own
        # (doubled, at the row's Holm scaling) and leaves the other non-inferior
        scale = r["p_family"] / r["p"] if r["p"] > 0 else 1.0
        routes = {"EOdds": (r["p_eodds"], eo < 0, f1 - f1_h > -settings.noninferiority_f1, f1 - f1_h > 0, "F1"),
                  "F1": (r["p_f1"], f1 > 0, eo + eo_h < settings.noninferiority_eodds * r["base_eodds"],
                         eo + eo_h < 0, "EOdds")}
        for name, (p_m, better, other_ok, other_better, other) in sorted(routes.items(), key=lambda kv: kv[1][0]):
            if min(1.0, 2 * p_m * scale) < ALPHA and better and other_ok:
                return "holds", name + (f" and {other}" if other_better else "")
        if significant:
            by_eo = r["p_eodds"] <= r["p_f1"]
            improves = eo < 0 if by_eo else f1 > 0
            if by_eo:
                other_ok = f1 - f1_h > -settings.noninferiority_f1
                other_worse, other_better = f1 + f1_h < 0, f1 - f1_h > 0
            else:
                other_ok = eo + eo_h < settings.noninferiority_eodds * r["base_eodds"]
                other_worse, other_better = eo - eo_h > 0, eo + eo_h < 0
            carried = "EOdds" if by_eo else "F1"
            if improves and other_ok:
                return "holds", carried + (" and " + ("F1" if by_eo else "EOdds") if other_better else "")
            if other_worse or (not improves and other_better):
                mixed = paired_verdict((f1, f1_h), (eo, eo_h))
                return ("does not hold" if mixed == "worse" else mixed), carried
            if not improves:
                return "does not hold", carried
            return "undetermined", f"{carried} better; {'F1' if by_eo else 'EOdds'} non-inferiority not shown"
    if r["p"] < ALPHA:  # significant before the family's adjustment only: which way it leans
        if kind == "beats" and r["p_f1"] < r["p_eodds"]:
            return "suggestive", "F1 " + ("better" if f1 > 0 else "worse")
        return "suggestive", "fairer" if eo < 0 else "less fair"
    if r.get("p_equivalence_family", math.nan) < ALPHA:
        return "equivalent", ""
    return "undetermined", ""


def vs_paper(r: dict[str, Any], verdict: str, paper_rel: float | None, settings: ClaimsSection = ClaimsSection()) -> str:
    """The row against the paper's magnitude: *reproduced* (the claim holds, the relative change's
    interval lies at or beyond ``paper_fraction`` × the paper's and the F1 cost is bounded under 1
    point), *ruled out* (the F1 cost exceeds 1 point, or the whole interval lies above the paper's
    magnitude; a best row, ``every_setting_ruled_out``: every setting is, each at its own level) or
    *undetermined*."""
    if paper_rel is None:
        return ""
    lo, hi, f1, f1_h = r["rel_eodds_lo"], r["rel_eodds_hi"], r["d_f1"], r["d_f1_ci"]
    if any(math.isnan(v) for v in (lo, hi, f1, f1_h)):
        return "undetermined"
    # A best row: the claim is "up to", so it is ruled out only where every setting is, each at its own
    # level (an intersection-union test); its own interval, simultaneous over the settings, then adds nothing.
    every = r.get("every_setting_ruled_out")
    best = not (every is None or (isinstance(every, float) and math.isnan(every)))
    if f1 + f1_h < -MAX_COST and (not best or bool(every)):
        return "ruled out"
    if (verdict == "holds" and hi <= settings.paper_fraction * paper_rel and f1 - f1_h > -MAX_COST
            and r.get("unit", "seeds") == "seeds"):  # one model's chips never reproduce a method's effect
        return "reproduced"
    if bool(every) if best else lo > paper_rel:
        return "ruled out"
    return "undetermined"


# ---------------------------------------------------------------- power under these rules
def _sd(v: np.ndarray) -> float:
    v = np.asarray(v, dtype=float)
    v = v[~np.isnan(v)]
    return float(v.std(ddof=1)) if v.size >= 2 else math.nan


def power_columns(kind: str, ev: Evidence, r: dict[str, Any], family_size: int, settings: ClaimsSection,
                  paper_rel: float | None) -> dict[str, Any]:
    """mde_eodds, seeds_needed (with what it aims at) and paper_seeds under the table's rules: each
    test at the family's Bonferroni level α / m (Holm's first step, so a conservative count), the
    selection of a best row included; NaN with one seed (the spread between seeds is unknown)."""
    out = {"mde_eodds": math.nan, "seeds_needed": math.nan, "seeds_goal": "", "paper_seeds": math.nan,
           "replication_power": math.nan, "paper_replication_power": math.nan}
    n = len(ev.d)
    if ev.unit != "seeds" or n < 2:
        return out
    alpha = ev.alpha / max(family_size, 1)
    base = float(np.mean(ev.b))
    out["mde_eodds"] = min_detectable(_sd(ev.d), n, alpha)
    out["replication_power"], out["paper_replication_power"] = replication_power(
        kind, ev, r, alpha, settings, paper_rel)
    verdict = r["verdict"]
    if verdict in UNDECIDED or (kind == "cheap" and verdict == "undetermined"):
        reason = r.get("carried_by", "")
        mean_eo, mean_f1 = float(np.mean(ev.d)), float(np.mean(ev.f))
        if "F1 cost bound" in reason:
            need, goal = replicates_needed(lambda k: one_sided_power(mean_f1 + MAX_COST, _sd(ev.f), k, ev.alpha / 2)), \
                "F1 cost < 1 pt"
        elif "non-inferiority" in reason:
            other = ev.f + settings.noninferiority_f1 if "F1 non" in reason else settings.noninferiority_eodds * base - ev.d
            need, goal = replicates_needed(lambda k: one_sided_power(float(np.mean(other)), _sd(other), k)), \
                "non-inferiority"
        elif base > 0 and abs(mean_eo / base) < settings.equivalence_eodds and ev.selection == 1:
            rel = ev.d / base
            need = replicates_needed(lambda k: tost_power(float(np.mean(rel)), _sd(rel), max(k, MIN_EQUIVALENCE_SEEDS),
                                                          settings.equivalence_eodds, alpha))
            need, goal = max(need, MIN_EQUIVALENCE_SEEDS), "equivalence"
        else:
            need, goal = replicates_needed(lambda k: t_power(mean_eo, _sd(ev.d), k, alpha)), "detect"
        out["seeds_needed"], out["seeds_goal"] = need, goal
    if paper_rel is not None and r["vs_paper"] == "undetermined" and base > 0:
        target = settings.paper_fraction * paper_rel
        rel = float(np.mean(ev.d)) / base
        if rel <= target:  # on the way to reproduced: the bound must pass the target, the F1 bound 1 pt
            z = target * ev.b - ev.d
            need = max(replicates_needed(lambda k: one_sided_power(float(np.mean(z)), _sd(z), k, ev.alpha / 2)),
                       replicates_needed(lambda k: one_sided_power(float(np.mean(ev.f)) + MAX_COST, _sd(ev.f), k,
                                                                   ev.alpha / 2)))
        else:  # on the way to ruled out: the interval must pass above the paper's magnitude
            z = ev.d - paper_rel * ev.b
            need = replicates_needed(lambda k: one_sided_power(float(np.mean(z)), _sd(z), k, ev.alpha / 2))
        out["paper_seeds"] = need
    return out


def replication_power(kind: str, ev: Evidence, r: dict[str, Any], alpha: float, settings: ClaimsSection,
                      paper_rel: float | None) -> tuple[float, float]:
    """The chance that a fresh run with as many seeds reaches the same decided verdict (and the same
    reading against the paper), were the observed means and spreads the truth (Goodman, Stat. Med.
    1992): the power of each test the verdict needed, at the family's Bonferroni level, multiplied
    where a verdict needs several. Optimistic for a just-significant row (its observed effect is
    biased away from zero by having been selected), so read it as an upper estimate. NaN when the
    row is not decided."""
    n = len(ev.d)
    d, f = ev.d, ev.f
    base = float(np.mean(ev.b))

    def lower(z: np.ndarray, a: float = alpha / 2) -> float:  # a one-sided bound lands above 0
        return one_sided_power(float(np.mean(z)), _sd(z), n, a)

    def two_sided(z: np.ndarray, a: float = alpha) -> float:
        return t_power(float(np.mean(z)), _sd(z), n, a)

    verdict, by = r["verdict"], r.get("carried_by", "")
    f1_bound = lower(f + MAX_COST, ev.alpha / 2)
    power = math.nan
    if verdict == "equivalent":
        rel = d / base if base > 0 else d * math.nan
        power = tost_power(float(np.mean(rel)), _sd(rel), n, settings.equivalence_eodds, alpha)
    elif by == "F1 cost > 1 pt":
        power = lower(-(f + MAX_COST), ev.alpha / 2)
    elif kind in ("lowers", "cheap") and verdict in ("holds", "does not hold"):
        power = two_sided(d) * (f1_bound if kind == "cheap" and verdict == "holds" else 1.0)
    elif kind == "beats" and verdict == "holds":
        by_eo = by.startswith("EOdds")
        carried = two_sided(d if by_eo else f, alpha / 2)
        other = lower(f + settings.noninferiority_f1, ev.alpha / 2) if by_eo else \
            lower(settings.noninferiority_eodds * ev.b - d, ev.alpha / 2)
        power = carried * other
    elif kind == "beats" and verdict not in UNDECIDED:  # does not hold, or a trade-off
        power = two_sided(d if by.startswith("EOdds") else f, alpha / 2)
    paper = math.nan
    vs = r.get("vs_paper", "")
    if paper_rel is not None and base > 0:
        if vs == "reproduced":
            paper = (power if not math.isnan(power) else 1.0) * lower(settings.paper_fraction * paper_rel * ev.b - d,
                                                                    ev.alpha / 2)
        elif vs == "ruled out":
            by_cost = lower(-(f + MAX_COST), ev.alpha / 2)
            by_gain = lower(d - paper_rel * ev.b, ev.alpha / 2)
            paper = max(by_cost, by_gain)
    return power, paper
