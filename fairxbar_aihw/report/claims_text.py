"""The claims table as a reader sees it: what would decide each open row, and the markdown section
with how its verdicts were reached, and the text columns the table carries (``TOOL_TEXT``). The
decisions themselves are in ``verdicts.py``; the rows in ``claims_table.py``. Pure text."""
from __future__ import annotations

import math
from typing import Any, Iterable

import pandas as pd

from .claims_registry import CLAIMS, GAPS, SCOPES
from .numbers import pm, target_label
from ..study.schema import ClaimsSection
from .verdicts import MAX_COST, MIN_EQUIVALENCE_SEEDS

TOOL_TEXT = ("to_decide", "per_seed", "seed_values", "carried_by", "settings")  # text this tool composes


def per_seed_text(seeds: Iterable[int], verdicts: Iterable[str]) -> str:
    """Each seed's own verdict, short ("0: holds; 1: n.s.")."""
    short = {"holds": "holds", "does not hold": "fails", "equivalent": "equiv.", "suggestive": "n.s.",
             "undetermined": "n.s."}
    return "; ".join(f"{s}: {short.get(v, 'trade-off')}" for s, v in zip(seeds, verdicts))


def seed_values_text(per_seed: pd.DataFrame) -> str:
    """Each seed's mean Δgap ± its chip interval ("0: −0.012 ± 0.004; ...")."""
    return "; ".join(f"{r.seed}: {pm(r.d_eodds, r.d_eodds_ci, signed=True)}" for r in per_seed.itertuples())


def settings_text(settings: Iterable[tuple[float, Any]]) -> str:
    """(intensity, target) settings as "0.1 @ 5%, 0.2 @ 5%"."""
    return ", ".join(f"{i:g} @ {target_label(t)}" for i, t in settings)


def seeds_text(n: float) -> str:
    return "n/a" if pd.isna(n) else "> 200" if math.isinf(n) else f"{int(n)}"


def about(n: float) -> str:
    """"about N seeds" in a sentence ("more than 200 seeds" beyond the search)."""
    return "more than 200 seeds" if not pd.isna(n) and math.isinf(n) else f"about {seeds_text(n)} seeds"


def rel_text(r: Any) -> str:
    """The relative change and its Fieller interval, in percent ("unbounded" where the base itself
    is not distinguishable from zero)."""
    if pd.isna(r.rel_eodds):
        return "n/a"
    if pd.isna(r.rel_eodds_lo):
        return f"{100 * r.rel_eodds:+.1f}%"
    if math.isinf(r.rel_eodds_lo) or math.isinf(r.rel_eodds_hi):
        return f"{100 * r.rel_eodds:+.1f}% [unbounded]"
    return f"{100 * r.rel_eodds:+.1f}% [{100 * r.rel_eodds_lo:+.1f}, {100 * r.rel_eodds_hi:+.1f}]"


def to_decide(r: Any, settings: ClaimsSection) -> str:
    """One sentence: what would decide an open row (or its reading against the paper); '' if decided."""
    parts = []
    if r.verdict in ("undetermined", "suggestive"):
        if r.seeds < 2:
            parts.append(f"one seed: run ≥ {MIN_EQUIVALENCE_SEEDS} seeds (`--seeds 0,1,2`) to judge it across "
                         "training runs")
        elif r.verdict == "suggestive":
            parts.append(f"significant before the adjustment for its {int(r.family_size)}-row family only (p "
                         f"{r.p:.3f}, family {r.p_family:.3f}); {about(r.seeds_needed)} would "
                         f"decide it with 80% power")
        elif r.seeds_goal == "equivalence":
            parts.append(f"its change lies inside ±{100 * settings.equivalence_eodds:g}% of the pre-trained gap; "
                         f"{about(r.seeds_needed)} would show equivalence with 80% power"
                         + (f" (equivalence needs ≥ {MIN_EQUIVALENCE_SEEDS} seeds)" if r.seeds < MIN_EQUIVALENCE_SEEDS
                            else ""))
        elif r.seeds_goal in ("F1 cost < 1 pt", "non-inferiority"):
            parts.append(f"{r.carried_by}: {about(r.seeds_needed)} would show it with 80% power")
        elif isinstance(r.seeds_needed, float) and math.isinf(r.seeds_needed):
            parts.append(f"the observed Δ ({r.d_eodds:+.3f}) is tiny against the between-seed spread: more than "
                         f"200 seeds would be needed to detect it; it is negligible or needs less noisy chips")
        else:
            parts.append(f"the observed Δ ({r.d_eodds:+.3f}) would be detected in its family with 80% power at "
                         f"{about(r.seeds_needed)} (now detectable: |Δ| ≥ {r.mde_eodds:.3f})")
    if getattr(r, "vs_paper", "") == "undetermined" and r.seeds >= 2:
        target = settings.paper_fraction * r.paper_rel
        goal = (f"reproduce it (bound at or beyond {100 * target:+.0f}%, F1 cost bounded under 1 pt)"
                if r.rel_eodds <= target else f"rule out the paper's {100 * r.paper_rel:+.0f}%")
        parts.append(f"{about(r.paper_seeds)} would {goal} with 80% power at this spread")
    return "; ".join(parts)


def with_to_decide(table: pd.DataFrame, settings: ClaimsSection) -> pd.DataFrame:
    """The table with its ``to_decide`` sentence per row."""
    if table.empty:
        return table
    return table.assign(to_decide=[to_decide(r, settings) for r in table.itertuples()])


def _verdict_cell(r: Any) -> str:
    shown = r.verdict == "suggestive" or CLAIMS[r.claim].kind == "beats" or r.verdict == "undetermined"
    by = f" ({r.carried_by})" if r.carried_by and shown else ""
    return f"**{r.verdict}**{by}" + (" **(seeds disagree)**" if r.seeds_disagree else "")


def _replication_cell(r: Any) -> str:
    """The estimated chance that fresh seeds repeat the decided verdict / reading against the paper."""
    parts = [f"{100 * v:.0f}%" if not pd.isna(v) else "—" for v in (r.replication_power, r.paper_replication_power)]
    return parts[0] if parts[1] == "—" and pd.isna(r.paper_rel) else " / ".join(parts)


def _paper_cell(r: Any) -> str:
    return f"**{r.vs_paper}** ({100 * r.paper_rel:+.0f}%)" if r.vs_paper else "—"


def _rules(settings: ClaimsSection, n_seeds: int, present: list[str]) -> list[str]:
    """How the verdicts were reached, in the table's own terms."""
    unit = "seeds" if n_seeds >= 2 else "chips"
    half = settings.paper_fraction
    return [
        "**How a verdict is reached** (`fairxbar_aihw/report/verdicts.py`):",
        "",
        f"- *Families*: each claim's rows of one scope are a family; *holds* / *does not hold* need the row's "
        f"Holm-adjusted p within its family (`p family`) < 0.05 (Holm 1979). A row significant only before that "
        f"adjustment is **suggestive**, not a verdict. Row p: a one-sample t-test over {unit} of ΔEOdds; for "
        f"*beats* rows the smaller of ΔEOdds' and ΔF1's, doubled.",
        f"- *beats* (a better trade-off): the metric that carried the test improves and the other is shown not worse "
        f"than its non-inferiority margin ({100 * settings.noninferiority_f1:g} F1 point, or "
        f"{100 * settings.noninferiority_eodds:g}% of the pre-trained gap) by its 95% bound; the cell names the "
        f"carrying metric. Both metrics significantly opposite: a *trade-off*.",
        f"- *< 1 pt* claims: the gap falls (family-adjusted) **and** the F1 cost's bound (the end of its 95% interval, one-sided 97.5%) is < "
        f"{100 * MAX_COST:g} point; a cost above 1 point at 95% is *does not hold*.",
        f"- *equivalent*: two one-sided t-tests (Schuirmann 1987), Holm-adjusted in the family, put the relative "
        f"change inside ±{100 * settings.equivalence_eodds:g}% of the pre-trained gap (and for *beats* rows ΔF1 "
        f"inside ±{100 * settings.equivalence_f1:g} point); only across ≥ {MIN_EQUIVALENCE_SEEDS} training seeds — "
        "one model's chips say nothing about a method.",
        "- *relative*: the mean ΔEOdds over the mean pre-trained gap (a ratio of means over seeds) with Fieller's "
        "interval (Fieller 1954), so a noisy base is neither divided by seed by seed nor dropped when ≤ 0 "
        "(`bases_nonpositive` in claims.csv counts such seeds); with one seed the base's test-set bootstrap "
        "variance enters the interval.",
        f"- *scope*: **average** = {SCOPES['average']}; **best** = {SCOPES['best']}. The paper's \"up to 32%\" is "
        "a best operating point, so the *best* row is the one its wording matches; the *average* row asks whether "
        "the effect holds across the error type's settings.",
        f"- *vs paper*: **reproduced** — the claim holds, the relative interval lies at or beyond "
        f"{100 * half:g}% of the paper's magnitude and the F1 cost is bounded under 1 point; **ruled out** — the F1 "
        "cost exceeds 1 point at 95%, or the whole interval lies above the paper's magnitude (a *best* row: at every "
        "setting, each by its own 95% interval, an intersection-union test that needs no multiplicity correction, "
        "Berger 1982); *undetermined* otherwise. Where each magnitude comes from: " + "; ".join(
            f"({c.key}) {100 * c.paper_rel:+.0f}%, {c.paper_source}" for c in CLAIMS.values()
            if c.paper_rel is not None and c.key in present) + ".",
        "- *replicates (est.)*: the chance that a fresh run with as many seeds reaches the same decided verdict "
        "(and, after the slash, the same reading against the paper) were the observed means and spreads the "
        "truth (Goodman 1992): the power of each test the verdict needed. Optimistic for a just-significant row; "
        "a verdict near 50% is as likely to fall back to *undetermined* on fresh seeds as to repeat.",
        "- *MDE (80%)*: the smallest |ΔEOdds| detected with 80% power at the family's Bonferroni level (a "
        "conservative stand-in for Holm) at the observed spread; *seeds to decide*: the seeds at which an open row "
        "would be decided that way.",
    ]


KGROUP_GAP_NOTE = (
    "The study reads every group value (`dataset.groups: all`): each chip's gap is the largest two-group EOdds "
    "between any two groups (the worst pair), on the paper's scale, its sampling bias reduced by a shrinkage "
    "bootstrap (Louis 1984; user guide, *More than two groups*); small real gaps read low, as with two groups. "
    "The range over groups and every group's accuracy are in *Every group* and the population section.")


def markdown(table: pd.DataFrame, empty: pd.DataFrame, figure: str | None, study_seeds: int = 1,
             settings: ClaimsSection = ClaimsSection(), gap: str = "eodds") -> list[str]:
    """The claims section: the table, how it was decided, and what was left out. ``study_seeds`` >
    1 marks a one-seed table as one seed of a study judged across seeds elsewhere; ``gap`` names
    the gap metric the rows were computed on."""
    if table.empty:
        return ["## The paper's claims", "", "No claim can be tested: the run has no sweep rows yet.", ""]
    n_seeds = int(table["seeds"].max())
    lines = ["## The paper's claims", ""]
    if n_seeds >= 2:
        lines += [f"Each row: A − B over identical chips, per seed averaged chip by chip over the row's settings, "
                  f"then the **mean over {n_seeds} training seeds ± 95% t-interval over seeds** (t with "
                  f"{n_seeds - 1} degrees of freedom; a *best* row's interval is simultaneous over the settings it "
                  "was chosen among). *Per seed* is each seed's own verdict from its chip interval (context only).", ""]
    else:
        lines += ["**One training seed**: each interval is over chips of this one trained model, so a verdict "
                  "belongs to this model, not to the method, and *equivalent* cannot be reached. " + (
                      f"The verdicts across all {study_seeds} seeds of this study are in [its report](../README.md)."
                      if study_seeds > 1 else f"Run the study with ≥ {MIN_EQUIVALENCE_SEEDS} seeds for a verdict "
                      "that survives retraining."), ""]
    lines += [f"**Gap metric: {GAPS.get(gap, gap)}** (`{gap}`). " + (
        "Raw EOdds sums absolute rate differences, so test-set sampling alone makes it positive and chip errors "
        "that only add noise raise it further (Jensen); the bias-corrected gap (Cai & Low 2011, see the user "
        "guide) shrinks that bias to about ±0.2σ per rate difference (more at expected counts under ~10), so a "
        "verdict mostly reflects a change in the true gap; a difference of two corrected gaps can still carry "
        "up to about 0.4σ per term. The raw EOdds stays in the per-seed reports." if gap == "eodds_bc" else
        KGROUP_GAP_NOTE if gap == "k_eodds_bc" else
        "The bias-corrected gap was not used: " + ("these rows were stored before it existed; rerun with "
                                                    "`--fresh` to judge on it." if not gap.endswith(settings.gap)
                                                    else "the study sets `claims.gap: eodds`.")), ""]
    present = list(dict.fromkeys(table["claim"]))
    lines += [f"- **({k})** {CLAIMS[k].text}" for k in present] + [""]
    lines += ["| claim | F+A R reading | A vs B | error type | scope: settings | ΔEOdds | relative to pre-trained | "
              "ΔF1 pooled (pts) | verdict | vs paper | per seed | p (family) | replicates (est.) | MDE (80%) | "
              "seeds to decide |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        decided = r.verdict not in ("undetermined", "suggestive")
        p_cell = "n/a" if pd.isna(r.p) else f"{r.p:.3f} ({r.p_family:.3f})"
        lines.append(f"| ({r.claim}) {CLAIMS[r.claim].short} | {r.reading} | {r.comparison} | {r.preset} | "
                     f"{r.scope}: {r.settings} | {pm(r.d_eodds, r.d_eodds_ci, signed=True)} | {rel_text(r)} | "
                     f"{pm(r.d_f1, r.d_f1_ci, 100, 2, signed=True)} | {_verdict_cell(r)} | {_paper_cell(r)} | "
                     f"{r.per_seed} | {p_cell} | {_replication_cell(r)} | "
                     f"{'n/a' if pd.isna(r.mde_eodds) else f'{r.mde_eodds:.3f}'} | "
                     f"{'—' if decided else seeds_text(r.seeds_needed)} |")
    lines += [""] + _counts(table) + [""] + _rules(settings, n_seeds, present)
    open_rows = table[table["to_decide"] != ""]
    if len(open_rows):
        lines += ["", "**What would decide the open rows:**", ""]
        lines += [f"- ({r.claim}) {r.comparison}, {r.preset}, {r.scope}: {r.to_decide}." for r in open_rows.itertuples()]
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
    nonpositive = table[table["bases_nonpositive"] > 0] if "bases_nonpositive" in table else table.iloc[:0]
    if len(nonpositive):
        lines += ["", f"**A pre-trained gap ≤ 0** (bias-corrected) in {int(nonpositive['bases_nonpositive'].max())} "
                  "seed(s): those seeds stay in every row (the relative change is a ratio of means), but their own "
                  "relative change is undefined."]
    if figure:
        lines += ["", f"![Claims per seed and across seeds]({figure})"]
    return lines + [""]


def _counts(table: pd.DataFrame) -> list[str]:
    """The verdict tally per scope, with the paper's readings."""
    out = []
    for scope, part in table.groupby("scope", sort=False):
        counts = part["verdict"].map(lambda v: v if v in ("holds", "does not hold", "equivalent", "undetermined",
                                                          "suggestive") else "trade-off").value_counts()
        papers = part["vs_paper"][part["vs_paper"] != ""].value_counts()
        text = (f"**{scope.capitalize()} rows** ({len(part)}): {counts.get('holds', 0)} hold, "
                f"{counts.get('does not hold', 0)} do not hold, {counts.get('equivalent', 0)} equivalent, "
                f"{counts.get('trade-off', 0)} trade-off, {counts.get('suggestive', 0)} suggestive, "
                f"{counts.get('undetermined', 0)} undetermined")
        if papers.sum():
            text += (f"; against the paper: {papers.get('reproduced', 0)} reproduced, {papers.get('ruled out', 0)} "
                     f"ruled out, {papers.get('undetermined', 0)} undetermined")
        out.append(f"- {text}.")
    return out
