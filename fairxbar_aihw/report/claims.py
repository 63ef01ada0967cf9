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
from .stats import holm, mean_ci
from .verdicts import MAX_COST, ClaimSettings, Evidence, decide, power_columns, statistics, vs_paper

PRE = "pre-trained"
SETTING = ["preset", "intensity", "target"]
CONTROL = "Plain FT"  # the fine-tune control: the same batches and selection, no errors, no fairness term
RETRAINED = ("VA-Retrain", "VFA-Retrain")  # the paper's retraining arms


# Placeholders in a claim's comparisons: ``{fa}`` an F+A R reading, ``<method>{rule}`` that method at the
# reading's F+A R rule ("FR-matched [intersect]" beside "F+A R [intersect]"), ``{arm}`` one of the claim's
# retrained arms, ``{reading}`` the reading the arms retrain at.
FA, ARM, READING, RULE = "{fa}", "{arm}", "{reading}", "{rule}"


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
        rule = MethodLabel.split(reading).rule
        fill = {FA: reading, ARM: arm, READING: arm_reading}

        def label(name: str) -> str:  # f"FR-matched{RULE}": that method at the reading's rule
            return MethodLabel(name.removesuffix(RULE), rule).text() if name.endswith(RULE) else fill.get(name, name)
        return [tuple(label(n) for n in pair) for pair in self.pairs]


CLAIMS = {c.key: c for c in (
    Claim("a", "errors on FR-targeted weights lower EOdds (the paper: at an F1 cost)", "FR errors lower EOdds",
          "lowers", pairs=(("FR", PRE),)),
    Claim("b", "F+A R beats FR at matched error count (FR-matched: FR's weights at F+A R's per-layer counts)",
          "F+A R beats FR", "beats", pairs=((FA, f"FR-matched{RULE}"),)),
    Claim("c", "VA/VFA-Retrain beat F+A R and the plain fine-tune control", "retraining beats", "beats",
          pairs=((ARM, READING), (ARM, CONTROL)), arms=RETRAINED),
    Claim("c'", "VA/VFA-Retrain lower EOdds below the pre-trained model at < 1 pooled-F1 point "
          "(the paper: up to 32%)", "retraining is fairer, < 1 pt", "cheap", -0.32,
          "§VI *Summary of performance*: VA/VFA-Retrain show \"a significant 32% improvement at the expense of "
          "less than 1% accuracy degradation\"", pairs=((ARM, PRE),), arms=RETRAINED),
    Claim("d", "targeted errors (F+A R) beat the same number of random errors", "targeted beats random", "beats",
          pairs=((FA, f"random{RULE}"),)),
    Claim("e", "F+A R lowers EOdds below the pre-trained model at < 1 pooled-F1 point (the paper's headline)",
          "F+A R is fairer, < 1 pt", "cheap", -0.32,
          "abstract and §VII: device errors \"deliver improved fairness (up to 32% improvement) with ... less "
          "than 1% loss\" of accuracy", pairs=((FA, PRE),)),
)}
GAPS = {"eodds_bc": "bias-corrected EOdds", "eodds": "raw EOdds (the paper's printed sum)"}
SCOPES = {"average": "each error type's settings averaged chip by chip",
          "best": "the setting with the most favourable mean, its interval simultaneous over the settings it was "
                  "chosen among (Bonferroni)",
          "setting": "one setting"}


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


def chip_differences(frames: dict[int, pd.DataFrame], arm_reading: str, gap: str = "eodds",
                     base_sd: dict[int, float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per chip, per setting, per seed: Δgap (column ``d_eodds``, the ``gap`` metric) and ΔF1
    (pooled, eq. 3) of A − B over identical chips (B = the seed's own pre-trained model for claims
    against it). Second frame: the settings left out because the F+A R reading targets no weights
    there (comparing it would flatter it). ``base_sd``: each seed's test-set standard deviation of
    its pre-trained gap, where known (it widens a one-seed table's relative interval)."""
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
                          "base_eodds": float(base[gap]), "base_sd": (base_sd or {}).get(seed, 0.0)}
                         for t, e, f in zip(d_eo.index, d_eo, d_f1)]
    return pd.DataFrame(rows), pd.DataFrame(empty)


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


def _seed_verdicts(claim: Claim, per_seed: pd.DataFrame, settings: ClaimSettings) -> list[str]:
    """Each seed's own verdict from its chips (unadjusted: context for the row, never its verdict)."""
    out = []
    for index in per_seed.index:
        stats_ = statistics(claim.kind, _evidence(per_seed.loc[[index]]), settings)
        out.append(decide(claim.kind, {**stats_, "p_family": stats_["p"]}, settings)[0])
    return out


def row_statistics(claim: Claim, per_seed: pd.DataFrame, settings: ClaimSettings, selection: int = 1) -> dict[str, Any]:
    """A row's statistics before its family is known: intervals, p-values, per-seed verdicts."""
    ev = _evidence(per_seed, selection)
    seed_verdicts = _seed_verdicts(claim, per_seed, settings)
    held = sum(v == "holds" for v in seed_verdicts)
    failed = sum(v == "does not hold" for v in seed_verdicts)
    return {"seeds": len(per_seed), "unit": ev.unit, **statistics(claim.kind, ev, settings),
            "paper_rel": claim.paper_rel,
            "per_seed": "; ".join(f"{s}: {_short(v)}" for s, v in zip(per_seed["seed"], seed_verdicts)),
            "seeds_disagree": bool(held and failed), "seeds_holding": held, "seeds_failing": failed,
            "_evidence": ev}


def _short(v: str) -> str:
    return {"holds": "holds", "does not hold": "fails", "equivalent": "equiv.", "suggestive": "n.s."}.get(
        v, "n.s." if v == "undetermined" else "trade-off")


def decide_families(rows: list[dict[str, Any]], settings: ClaimSettings) -> pd.DataFrame:
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


def claim_table(chips: pd.DataFrame, settings: ClaimSettings = ClaimSettings()) -> tuple[pd.DataFrame, pd.DataFrame]:
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
        rows.append({**key, "scope": "average", "settings": _settings_text(common),
                     **row_statistics(CLAIMS[claim], per_seed, settings)})
        seeds_out += [{**key, **r.drop(["chip_eodds", "chip_f1"]).to_dict()} for _, r in per_seed.iterrows()]
        if CLAIMS[claim].paper_rel is not None and len(common) > 1:
            rows.append({**key, "scope": "best", **_best_row(CLAIMS[claim], part, settings, len(common))})
    table = decide_families(rows, settings)
    return _in_claim_order(table, ["claim", "reading", "preset", "comparison", "scope"]), pd.DataFrame(seeds_out)


def _best_row(claim: Claim, part: pd.DataFrame, settings: ClaimSettings, m: int) -> dict[str, Any]:
    """The setting with the largest mean fall of the gap among those whose mean F1 cost is under 1
    point (the claim is "up to 32% at < 1 point"; all settings if none is), its intervals
    simultaneous over all ``m`` settings; and whether every setting is ruled out against the paper at
    that level (only then is "up to" ruled out)."""
    by_setting = part.groupby(["intensity", "target"], dropna=False)
    means = by_setting[["d_eodds", "d_f1"]].mean()
    cheap = means[means["d_f1"] > -MAX_COST]
    best = (cheap if len(cheap) else means)["d_eodds"].idxmin()
    every = True
    for setting, rows in by_setting:
        stats_ = statistics(claim.kind, _evidence(_per_seed(rows), m), settings)
        every &= vs_paper({**stats_, "every_setting_ruled_out": True}, "", claim.paper_rel, settings) == "ruled out"
    chosen = part[(part["intensity"] == best[0]) & (part["target"] == best[1])]
    return {"settings": _settings_text([best]), **row_statistics(claim, _per_seed(chosen), settings, selection=m),
            "every_setting_ruled_out": every}


def _settings_text(settings: Any) -> str:
    return ", ".join(f"{i:g} @ {target_label(t)}" for i, t in settings)


def _in_claim_order(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    order = {k: i for i, k in enumerate(CLAIMS)}
    return df.sort_values(by, key=lambda c: c.map(order) if c.name == "claim" else c,
                          kind="stable").reset_index(drop=True)


def setting_table(chips: pd.DataFrame, settings: ClaimSettings = ClaimSettings()) -> pd.DataFrame:
    """The same comparisons one setting at a time (the detail behind each claims row); each claim's
    settings are one family (``scope = setting``)."""
    rows = []
    for key, part in chips.groupby(["claim", "reading", "comparison", *SETTING], sort=False, dropna=False):
        per_seed = _per_seed(part)
        rows.append({**dict(zip(["claim", "reading", "comparison", *SETTING], key)), "scope": "setting",
                     **row_statistics(CLAIMS[key[0]], per_seed, settings),
                     "seed_values": "; ".join(f"{r.seed}: {pm(r.d_eodds, r.d_eodds_ci, signed=True)}"
                                              for r in per_seed.itertuples())})
    return _in_claim_order(decide_families(rows, settings),
                           ["claim", "reading", "preset", "comparison", "intensity", "target"])
