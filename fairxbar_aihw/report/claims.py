"""FairXbar's claims (Mugdho, Guo, Rogers, Zhao, Shi and Wang, "FairXbar: Improving the Fairness of Deep
Neural Networks with Non-Ideal In-Memory Computing Hardware"; "the paper"), tested across training
seeds: the table at the top of every report.

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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..saliency.names import MethodLabel
from ..study.keys import RowKind
from .numbers import pm, target_label
from .rows import CHIP_KINDS, baseline_row, chips, of_kind
from .stats import (across_seeds, holm, mean_ci, min_detectable, replicates_needed, t_crit, t_power, t_test_p, tost,
                    tost_power, verdict)

PRE = "pre-trained"
SETTING = ["preset", "intensity", "target"]
CONTROL = "Plain FT"  # the fine-tune control: the same batches and selection, no errors, no fairness term
RETRAINED = ("VA-Retrain", "VFA-Retrain")  # the paper's retraining arms


# Placeholders in a claim's comparisons: ``{fa}`` an F+A R reading (``{rule}`` its rule suffix, "" or
# " [intersect]"), ``{arm}`` one of the claim's retrained arms, ``{reading}`` the reading the arms retrain at.
FA, ARM, READING = "{fa}", "{arm}", "{reading}"


@dataclass(frozen=True)
class Claim:
    """One claim of the paper: what it says, its short name in tables, how a (ΔF1, Δgap) interval
    pair decides it, the paper's magnitude it is held against (relative gap change), if any, and
    its comparisons: the (A, B) rows it pairs over identical chips, once per F+A R reading the run
    has (``{fa}``), once per retrained arm of ``arms`` it has (``{arm}``), or once."""

    key: str
    text: str
    short: str
    kind: str  # lowers: Δgap < 0 | beats: the paired verdict is "better" | cheap: Δgap < 0 at < 1 pt F1
    paper_rel: float | None = None
    paper_source: str = ""
    pairs: tuple[tuple[str, str], ...] = ()
    arms: tuple[str, ...] = ()

    @property
    def per(self) -> str:
        """What the claim's comparisons range over: "reading", "arm" or "" (one comparison set)."""
        names = {n for pair in self.pairs for n in pair}
        return "arm" if ARM in names else "reading" if FA in names else ""

    def expand(self, reading: str, arm: str = "", arm_reading: str = "") -> list[tuple[str, str]]:
        """The claim's (A, B) row labels for one F+A R reading (and one arm)."""
        rule = reading[len("F+A R"):] if reading.startswith("F+A R") else ""
        fill = {FA: reading, ARM: arm, READING: arm_reading}
        return [tuple(fill.get(n, n).replace("{rule}", rule) for n in pair) for pair in self.pairs]


CLAIMS = {c.key: c for c in (
    Claim("a", "errors on FR-targeted weights lower EOdds (the paper: at an F1 cost)", "FR errors lower EOdds",
          "lowers", pairs=(("FR", PRE),)),
    Claim("b", "F+A R beats FR at matched error count (FR-matched: FR's weights at F+A R's per-layer counts)",
          "F+A R beats FR", "beats", pairs=((FA, "FR-matched{rule}"),)),
    Claim("c", "VA/VFA-Retrain beat F+A R and the plain fine-tune control", "retraining beats", "beats",
          pairs=((ARM, READING), (ARM, CONTROL)), arms=RETRAINED),
    Claim("c'", "VA/VFA-Retrain lower EOdds below the pre-trained model at < 1 pooled-F1 point "
          "(the paper: up to 32%)", "retraining is fairer, < 1 pt", "cheap", -0.32,
          "§VI *Summary of performance*: VA/VFA-Retrain show \"a significant 32% improvement at the expense of "
          "less than 1% accuracy degradation\"", pairs=((ARM, PRE),), arms=RETRAINED),
    Claim("d", "targeted errors (F+A R) beat the same number of random errors", "targeted beats random", "beats",
          pairs=((FA, "random{rule}"),)),
    Claim("e", "F+A R lowers EOdds below the pre-trained model at < 1 pooled-F1 point (the paper's headline)",
          "F+A R is fairer, < 1 pt", "cheap", -0.32,
          "abstract and §VII: device errors \"deliver improved fairness (up to 32% improvement) with ... less "
          "than 1% loss\" of accuracy", pairs=((FA, PRE),)),
)}
MAX_COST = 0.01  # "< 1 point of the paper's pooled F1"
GAPS = {"eodds_bc": "bias-corrected EOdds", "eodds": "raw EOdds (the paper's printed sum)"}


@dataclass(frozen=True)
class ClaimSettings:
    """How the table decides: which gap metric, and the equivalence margins (two one-sided tests)."""

    gap: str = "eodds_bc"
    equivalence_eodds: float = 0.10  # relative to the pre-trained model's gap
    equivalence_f1: float = 0.01  # pooled-F1 points / 100


def decide(kind: str, d_f1: tuple[float, float], d_eodds: tuple[float, float], eq_eodds: bool = False,
           eq_f1: bool = False) -> str:
    """The verdict for one claim from (mean, 95% half-width) pairs of A − B and whether two
    one-sided tests put ΔEOdds (``eq_eodds``) and ΔF1 (``eq_f1``) inside their margins.

    holds / does not hold / equivalent (no meaningful effect) / undetermined, or for *beats* a
    significant trade-off."""
    f1, f1_h = d_f1
    eo, eo_h = d_eodds
    if any(math.isnan(v) for v in (f1, f1_h, eo, eo_h)):
        return "undetermined"
    if kind == "lowers":
        if eo + eo_h < 0:
            return "holds"
        if eo - eo_h > 0:
            return "does not hold"
        return "equivalent" if eq_eodds else "undetermined"
    if kind == "cheap":
        if eo + eo_h < 0 and -f1 < MAX_COST:
            return "holds"
        if eo - eo_h > 0 or -(f1 + f1_h) > MAX_COST:
            return "does not hold"
        return "equivalent" if eq_eodds else "undetermined"
    v = verdict(d_f1, d_eodds)
    if v == "better":
        return "holds"
    if v == "worse":
        return "does not hold"
    if v == "no significant difference":
        return "equivalent" if eq_eodds and eq_f1 else "undetermined"
    return v  # "trade-off (fairer, less accurate)" and the like: significant both ways


def vs_paper(claim: Claim, rel: tuple[float, float], d_f1: tuple[float, float]) -> str:
    """The row against the paper's magnitude, from the interval of the relative gap change.

    reproduced: the interval lies below zero, does not exclude the paper's gain, and the mean F1
    cost is under 1 point; ruled out: the whole interval lies above the paper's gain (a gain that
    large is excluded at 95%), or the F1 cost is above 1 point at 95%; undetermined otherwise.
    """
    if claim.paper_rel is None:
        return ""
    rm, rh = rel
    f1, f1_h = d_f1
    if any(math.isnan(v) for v in (rm, rh, f1, f1_h)):
        return "undetermined"
    if rm - rh > claim.paper_rel or -(f1 + f1_h) > MAX_COST:
        return "ruled out"
    if rm + rh < 0 and rm - rh <= claim.paper_rel and -f1 < MAX_COST:
        return "reproduced"
    return "undetermined"


def comparisons(methods: list[str], arms: list[str], arm_reading: str) -> list[tuple[str, str, str, str]]:
    """(claim, reading, A, B) for every claim the run's methods and arms can test, from each claim's
    registered comparisons: the claims made once, then each F+A R reading's, then each arm's."""
    readings = [m for m in methods if MethodLabel.split(m).is_fa]
    out = [(c.key, "—", a, b) for c in CLAIMS.values() if not c.per for a, b in c.expand("") if a in methods]
    for reading in readings:
        out += [(c.key, reading, a, b) for c in CLAIMS.values() if c.per == "reading" for a, b in c.expand(reading)]
    for arm in dict.fromkeys(a for c in CLAIMS.values() if c.per == "arm" for a in c.arms):
        if arm in arms:
            out += [(c.key, arm_reading, a, b) for c in CLAIMS.values() if c.per == "arm"
                    for a, b in c.expand(arm_reading, arm, arm_reading)]
    return out


def table_pairs(reading: str, arms: list[str], arm_reading: str) -> list[tuple[str, str]]:
    """The single-seed report's paired table for one F+A R reading: it against FR (context), then its
    claims' comparisons that pair two chip rows (none against the pre-trained model); for the reading
    the arms retrain at, every retrained arm but the control against it (claim c's first comparison,
    the arms outside claim c as context), then claim c's arms against the control."""
    own = [pair for c in CLAIMS.values() if c.per == "reading" for pair in c.expand(reading) if PRE not in pair]
    pairs = [(reading, "FR")] + own
    if reading != arm_reading:
        return pairs
    claim_c = CLAIMS["c"]
    return pairs + [(arm, reading) for arm in arms if arm != CONTROL] + [
        (arm, CONTROL) for arm in arms if arm in claim_c.arms and CONTROL in arms]


def gap_metric(frames: dict[int, pd.DataFrame], preferred: str) -> str:
    """The gap column the claims use: ``preferred`` when every chip and baseline row has it (rows
    stored before bias-corrected gaps existed do not), else the raw ``eodds``."""
    for df in frames.values():
        rows = of_kind(df, RowKind.BASELINE, *CHIP_KINDS)
        if preferred not in rows or rows[preferred].isna().any():
            return "eodds"
    return preferred


def chip_differences(frames: dict[int, pd.DataFrame], arm_reading: str,
                     gap: str = "eodds") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per chip, per setting, per seed: Δgap (column ``d_eodds``, the ``gap`` metric) and ΔF1
    (pooled, eq. 3) of A − B over identical chips (B = the seed's own pre-trained model for claims
    against it). Second frame: the settings left out because the F+A R reading targets no weights
    there (comparing it would flatter it)."""
    rows, empty = [], []
    for seed, df in sorted(frames.items()):
        base = baseline_row(df)
        cells = chips(df)
        arms = list(dict.fromkeys(of_kind(cells, RowKind.RETRAIN)["method"]))
        methods = list(dict.fromkeys(of_kind(cells, RowKind.SWEEP)["method"]))
        for claim, reading, a_name, b_name in comparisons(methods, arms, arm_reading):
            a_all = cells[cells["method"] == a_name]
            for setting, a in a_all.groupby(SETTING, sort=True):
                cell = cells[(cells["preset"] == setting[0]) & (cells["intensity"] == setting[1])
                             & (cells["target"] == setting[2])]
                key = {"seed": seed, "claim": claim, "reading": reading, "comparison": f"{a_name} vs {b_name}",
                       **dict(zip(SETTING, setting))}
                fa = cell[cell["method"] == (reading if reading != "—" else "FR")]
                if claim != "a" and fa["targeted_fraction"].max() == 0:
                    empty.append(key)
                    continue
                a = a.set_index("trial")
                if b_name == PRE:
                    d_eo, d_f1 = a[gap] - base[gap], a["f1_micro"] - base["f1_micro"]
                else:
                    b = cell[cell["method"] == b_name].set_index("trial")
                    if b.empty:
                        continue
                    both = a.index.intersection(b.index)
                    d_eo = a.loc[both, gap] - b.loc[both, gap]
                    d_f1 = a.loc[both, "f1_micro"] - b.loc[both, "f1_micro"]
                rows += [{**key, "trial": int(t), "d_eodds": float(e), "d_f1": float(f),
                          "base_eodds": float(base[gap])} for t, e, f in zip(d_eo.index, d_eo, d_f1)]
    return pd.DataFrame(rows), pd.DataFrame(empty)


def _relative(d: np.ndarray, base: float) -> np.ndarray:
    return np.asarray(d, dtype=float) / base if base > 0 else np.full(np.shape(d), math.nan)


def _per_seed(chips: pd.DataFrame) -> pd.DataFrame:
    """Per seed: the chip-by-chip mean over the row's settings, then mean ± chip CI over chips."""
    out = []
    for seed, part in chips.groupby("seed", sort=True):
        by_chip = part.groupby("trial")[["d_eodds", "d_f1"]].mean()  # each chip: mean over settings
        eo, eo_h = mean_ci(by_chip["d_eodds"])
        f1, f1_h = mean_ci(by_chip["d_f1"])
        base = float(part["base_eodds"].iloc[0])
        out.append({"seed": int(seed), "d_eodds": eo, "d_eodds_ci": eo_h, "d_f1": f1, "d_f1_ci": f1_h,
                    "rel_eodds": float(_relative(eo, base)), "chips": len(by_chip), "base_eodds": base,
                    "chip_eodds": by_chip["d_eodds"].to_numpy(), "chip_f1": by_chip["d_f1"].to_numpy(),
                    "chip_rel": _relative(by_chip["d_eodds"].to_numpy(), base)})
    return pd.DataFrame(out)


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, 95% t half-width, one-sample t p) of the row's replicates."""
    return across_seeds(values) if len(values) >= 2 else (float(np.mean(values)) if len(values) else math.nan,
                                                         math.nan, math.nan)


def _levels(per_seed: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """The replicates a row is judged on: seeds (their means), or with one seed that seed's chips."""
    if len(per_seed) >= 2:
        return (per_seed["d_eodds"].to_numpy(), per_seed["rel_eodds"].to_numpy(), per_seed["d_f1"].to_numpy(),
                "seeds")
    r = per_seed.iloc[0]
    return r["chip_eodds"], r["chip_rel"], r["chip_f1"], "chips"


def _sd(v: np.ndarray) -> float:
    v = np.asarray(v, dtype=float)
    v = v[~np.isnan(v)]
    return float(v.std(ddof=1)) if v.size >= 2 else math.nan


def _seeds_needed(eo: np.ndarray, rel: np.ndarray, margin: float, n_seeds: int) -> tuple[float, str]:
    """Seeds for 80% power: to detect the observed Δgap (t-test), or, when the observed relative
    change lies inside the equivalence margin, to show equivalence (TOST). NaN with one seed: the
    between-seed spread is unknown."""
    if n_seeds < 2:
        return math.nan, ""
    rel_mean = float(np.nanmean(rel)) if np.isfinite(rel).any() else math.nan
    if not math.isnan(rel_mean) and abs(rel_mean) < margin:
        sd = _sd(rel)
        return replicates_needed(lambda n: tost_power(rel_mean, sd, n, margin)), "equivalence"
    mean, sd = float(np.mean(eo)), _sd(eo)
    return replicates_needed(lambda n: t_power(mean, sd, n)), "detect"


def _paper_seeds(claim: Claim, rel: np.ndarray) -> float:
    """Seeds at which the expected 95% half-width of the relative change shrinks below the distance
    between its mean and the nearer decision bound (the paper's gain, or zero)."""
    if claim.paper_rel is None or len(rel) < 2 or not np.isfinite(rel).all():
        return math.nan
    mean, sd = float(np.mean(rel)), _sd(rel)
    distance = mean - claim.paper_rel if mean > claim.paper_rel else -mean
    if not sd > 0:
        return math.nan
    for n in range(2, 201):
        if t_crit(n - 1) * sd / math.sqrt(n) < distance:
            return float(n)
    return math.inf


def _judge(claim: Claim, per_seed: pd.DataFrame, settings: ClaimSettings) -> dict[str, Any]:
    """The row's interval (over seeds, or over chips with one seed), its verdicts, power and what
    would decide it."""
    n = len(per_seed)
    eo_v, rel_v, f1_v, unit = _levels(per_seed)
    eo, rel, f1 = (_interval(v) if n >= 2 else (*mean_ci(v), _chip_p(v)) for v in (eo_v, rel_v, f1_v))
    eq_eo = tost(rel_v, settings.equivalence_eodds)
    eq_f1 = tost(f1_v, settings.equivalence_f1)
    # the row's test: Δgap for claims about the gap; for "beats" either metric may decide the
    # verdict, so the smaller p of the two, doubled (Bonferroni within the row)
    p = eo[2] if claim.kind != "beats" else min(1.0, 2 * min(eo[2], f1[2]))
    seed_verdicts = [decide(claim.kind, (r.d_f1, r.d_f1_ci), (r.d_eodds, r.d_eodds_ci)) for r in per_seed.itertuples()]
    held = sum(v == "holds" for v in seed_verdicts)
    failed = sum(v == "does not hold" for v in seed_verdicts)
    needed, goal = _seeds_needed(eo_v, rel_v, settings.equivalence_eodds, n)
    return {"seeds": n, "unit": unit, "d_eodds": eo[0], "d_eodds_ci": eo[1], "d_f1": f1[0], "d_f1_ci": f1[1],
            "p": p, "rel_eodds": rel[0], "rel_eodds_ci": rel[1], "base_eodds": float(per_seed["base_eodds"].mean()),
            "verdict": decide(claim.kind, f1[:2], eo[:2], eq_eo[0], eq_f1[0]),
            "p_equivalence": eq_eo[1] if claim.kind != "beats" else max(eq_eo[1], eq_f1[1]),
            "vs_paper": vs_paper(claim, rel[:2], f1[:2]), "paper_rel": claim.paper_rel,
            "mde_eodds": min_detectable(_sd(eo_v), n) if n >= 2 else math.nan,
            "seeds_needed": needed, "seeds_goal": goal, "paper_seeds": _paper_seeds(claim, rel_v) if n >= 2 else math.nan,
            "per_seed": "; ".join(f"{s}: {_short(v)}" for s, v in zip(per_seed["seed"], seed_verdicts)),
            "seeds_disagree": bool(held and failed), "seeds_holding": held, "seeds_failing": failed}


def _chip_p(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size < 2 or np.std(v) == 0:
        return math.nan
    return t_test_p(v)


def _short(v: str) -> str:
    return {"holds": "holds", "does not hold": "fails", "equivalent": "equiv."}.get(
        v, "n.s." if v == "undetermined" else "trade-off")


def claim_table(chips: pd.DataFrame, settings: ClaimSettings = ClaimSettings()) -> tuple[pd.DataFrame, pd.DataFrame]:
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
        settings_text = ", ".join(f"{i:g} @ {target_label(t)}" for i, t in common)
        row = {"claim": claim, "reading": reading, "comparison": comp, "preset": preset, "settings": settings_text,
               **_judge(CLAIMS[claim], per_seed, settings)}
        rows.append(row)
        seeds_out += [{**{k: row[k] for k in ("claim", "reading", "comparison", "preset")},
                       **r.drop(["chip_eodds", "chip_f1", "chip_rel"]).to_dict()} for _, r in per_seed.iterrows()]
    table = _in_claim_order(pd.DataFrame(rows), ["claim", "reading", "preset", "comparison"])
    table["p_holm"] = holm(table["p"].to_numpy())
    table["to_decide"] = [to_decide(r, settings) for r in table.itertuples()]
    return table, pd.DataFrame(seeds_out)


def _in_claim_order(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    order = {k: i for i, k in enumerate(CLAIMS)}
    return df.sort_values(by, key=lambda c: c.map(order) if c.name == "claim" else c,
                          kind="stable").reset_index(drop=True)


def setting_table(chips: pd.DataFrame, settings: ClaimSettings = ClaimSettings()) -> pd.DataFrame:
    """The same comparisons one setting at a time (the detail behind each claims row)."""
    rows = []
    for key, part in chips.groupby(["claim", "reading", "comparison", *SETTING], sort=False, dropna=False):
        per_seed = _per_seed(part)
        rows.append({**dict(zip(["claim", "reading", "comparison", *SETTING], key)),
                     **_judge(CLAIMS[key[0]], per_seed, settings),
                     "seed_values": "; ".join(f"{r.seed}: {pm(r.d_eodds, r.d_eodds_ci, signed=True)}"
                                              for r in per_seed.itertuples())})
    return _in_claim_order(pd.DataFrame(rows), ["claim", "reading", "preset", "comparison", "intensity", "target"])


def _seeds_text(n: float) -> str:
    return "n/a" if pd.isna(n) else "> 200" if math.isinf(n) else f"{int(n)}"


TOOL_TEXT = ("to_decide", "per_seed", "seed_values")  # text columns this module composes (no user input)


def to_decide(r: Any, settings: ClaimSettings) -> str:
    """One sentence: what would decide an undetermined row (or its paper verdict); '' if decided."""
    parts = []
    if r.verdict == "undetermined":
        if r.seeds < 2:
            parts.append("one seed: run ≥ 3 seeds (`--seeds 0,1,2`) to judge it across training runs")
        elif r.seeds_goal == "equivalence":
            parts.append(f"its change lies inside ±{100 * settings.equivalence_eodds:g}% of the pre-trained gap; "
                         f"about {_seeds_text(r.seeds_needed)} seeds would show equivalence with 80% power")
        elif math.isinf(r.seeds_needed):
            parts.append(f"the observed Δ ({r.d_eodds:+.3f}) is tiny against the between-seed spread: more than "
                         f"200 seeds would be needed to detect it; it is negligible or needs less noisy chips")
        else:
            parts.append(f"the observed Δ ({r.d_eodds:+.3f}) would be detected with 80% power at about "
                         f"{_seeds_text(r.seeds_needed)} seeds (now detectable: |Δ| ≥ {r.mde_eodds:.3f})")
    if getattr(r, "vs_paper", "") == "undetermined" and r.seeds >= 2:
        parts.append(f"about {_seeds_text(r.paper_seeds)} seeds would place the relative change on one side of "
                     f"the paper's {100 * r.paper_rel:+.0f}% (at this spread)")
    return "; ".join(parts)


def markdown(table: pd.DataFrame, empty: pd.DataFrame, figure: str | None, study_seeds: int = 1,
             settings: ClaimSettings = ClaimSettings(), gap: str = "eodds") -> list[str]:
    """The claims section: the table, how it was decided, and what was left out. ``study_seeds`` >
    1 marks a one-seed table as one seed of a study judged across seeds elsewhere; ``gap`` names
    the gap metric the rows were computed on."""
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
    lines += [f"**Gap metric: {GAPS.get(gap, gap)}** (`{gap}`). " + (
        "Raw EOdds sums absolute rate differences, so test-set sampling alone makes it positive and chip errors "
        "that only add noise raise it further (Jensen); the bias-corrected gap (Cai & Low 2011, see the user "
        "guide) removes most of that, so a verdict reflects a change in the true gap. The raw EOdds stays in "
        "the per-seed reports." if gap == "eodds_bc" else
        "The bias-corrected gap was not used: " + ("these rows were stored before it existed; rerun with "
                                                    "`--fresh` to judge on it." if settings.gap != gap
                                                    else "the study sets `claims.gap: eodds`.")), ""]
    present = list(dict.fromkeys(table["claim"]))
    lines += [f"- **({k})** {CLAIMS[k].text}" for k in present] + [""]
    lines += ["| claim | F+A R reading | A vs B | error type | ΔEOdds | relative to pre-trained | "
              "ΔF1 pooled (pts) | verdict | vs paper | per seed | MDE (80%) | seeds to decide | Holm p |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        disagree = " **(seeds disagree)**" if r.seeds_disagree else ""
        paper = f"**{r.vs_paper}** ({100 * r.paper_rel:+.0f}%)" if r.vs_paper else "—"
        decided = r.verdict not in ("undetermined",)
        lines.append(f"| ({r.claim}) {CLAIMS[r.claim].short} | {r.reading} | {r.comparison} | {r.preset} | "
                     f"{pm(r.d_eodds, r.d_eodds_ci, signed=True)} | {pm(r.rel_eodds, r.rel_eodds_ci, 100, 1, signed=True)}% | "
                     f"{pm(r.d_f1, r.d_f1_ci, 100, 2, signed=True)} | **{r.verdict}**{disagree} | {paper} | {r.per_seed} | "
                     f"{'n/a' if pd.isna(r.mde_eodds) else f'{r.mde_eodds:.3f}'} | "
                     f"{'—' if decided else _seeds_text(r.seeds_needed)} | "
                     f"{'n/a' if pd.isna(r.p_holm) else f'{r.p_holm:.3f}'} |")
    held = table[table["verdict"] == "holds"]
    survive = held[held["p_holm"] < 0.05]
    counts = table["verdict"].map(lambda v: v if v in ("holds", "does not hold", "equivalent", "undetermined")
                                  else "trade-off").value_counts()
    lines += ["", f"ΔEOdds < 0: A fairer; *relative* is ΔEOdds over that seed's pre-trained gap, averaged over "
              f"{'seeds' if n_seeds >= 2 else 'chips'} with its 95% interval (the paper's 32% gain is −32% there). "
              f"ΔF1 < 0: A less accurate. Verdicts: **{counts.get('holds', 0)} hold, "
              f"{counts.get('does not hold', 0)} do not hold, {counts.get('equivalent', 0)} equivalent, "
              f"{counts.get('trade-off', 0)} trade-off, {counts.get('undetermined', 0)} undetermined** of "
              f"{len(table)}.",
              "",
              f"- *equivalent*: two one-sided t-tests (Schuirmann 1987) put the relative gap change inside "
              f"±{100 * settings.equivalence_eodds:g}% of the pre-trained gap (and, for *beats* rows, ΔF1 inside "
              f"±{100 * settings.equivalence_f1:g} point) at 5%: no effect of a size that matters. "
              f"*undetermined*: neither an effect nor its absence is shown — too few seeds for the spread "
              f"(the margins are the study's `claims` settings).",
              "- *MDE (80%)*: the smallest |ΔEOdds| a two-sided 5% t-test over these seeds detects with 80% power "
              "at the observed between-seed spread (noncentral t, scipy); *seeds to decide*: the seeds at which "
              "an undetermined row's observed effect would be detected (or its equivalence shown) with 80% power.",
              "- *vs paper*: the relative change held against the paper's magnitude — *reproduced* (the interval "
              "lies below zero, includes or passes the paper's gain, and the mean F1 cost is < 1 point), *ruled "
              "out* (the whole interval lies above the paper's gain, or the F1 cost exceeds 1 point at 95%), "
              "*undetermined* otherwise. Where each magnitude comes from in the paper: " + "; ".join(
                  f"({c.key}) {100 * c.paper_rel:+.0f}%, {c.paper_source}" for c in CLAIMS.values()
                  if c.paper_rel is not None and c.key in present) + ". No other claim states a magnitude.",
              f"- Verdicts use unadjusted 95% intervals over {'seeds' if n_seeds >= 2 else 'chips'}; the table "
              f"makes **{tested} comparisons**, and the Holm column adjusts each row's p-value (one-sample t-test: "
              f"of ΔEOdds, or for *beats* rows the smaller of ΔEOdds' and ΔF1's, doubled) for all of them: "
              f"{len(held)} verdict(s) hold unadjusted, {len(survive)} of them also "
              f"{'survives' if len(survive) == 1 else 'survive'} Holm at 5%."]
    open_rows = table[table["to_decide"] != ""]
    if len(open_rows):
        lines += ["", "**What would decide the open rows:**", ""]
        lines += [f"- ({r.claim}) {r.comparison}, {r.preset}: {r.to_decide}." for r in open_rows.itertuples()]
    if len(empty):
        left = empty.drop_duplicates(["reading", "preset", "intensity", "target"])
        where = sorted({f"{r.reading} at {target_label(r.target)} ({r.preset} {r.intensity:g})" for r in left.itertuples()})
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
