"""Fairness across the chip population: what a hardware designer signs off on.

Why: every manufactured chip must meet the spec, not the mean chip. Per sweep cell (preset ×
intensity × method × target) this gives the distribution over chips (5th / 50th / 95th
percentile and the worst chip) of the gap, pooled F1, each group's accuracy and churn, and the
**fairness yield**: the share of chips whose gap is at most ``max_eodds_increase`` above the
digital (pre-trained) model's and whose pooled F1 is at most ``max_f1_drop`` below it, with its
exact binomial (Clopper-Pearson) interval, and across seeds an interval over the seeds' yields (each
seed's chips one cluster: they share one trained model). Pure pandas/scipy on the stored rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..csv_files import write_csv
from ..metrics import registry
from ..metrics.registry import VALUE_PREFIX
from ..study.schema import ClaimsSection, YieldSpecSection
from . import figures
from .claims_chips import gap_metric
from .claims_registry import GAPS
from .numbers import target_label
from .rows import CHIP_KINDS, baseline_row, of_kind
from .styles import ordered

CELL = ["preset", "intensity", "method", "target"]
PERCENTILES = (5, 50, 95)
LEVEL = 0.95
TOLERANCE = 1e-12  # a chip exactly at the limit meets it, whatever the float rounding of base + margin


@dataclass(frozen=True)
class Metric:
    """A per-chip column of the distribution table and which end of it is the worst chip."""

    column: str
    label: str
    worst_is_high: bool


METRICS = tuple(Metric(column, label, m.lower_is_better) for column, label, m in registry.view("population"))
SHOWN = registry.columns("population_shown")  # the markdown table
DEFAULT_GROUP_DROP = 0.05  # the k-group spec when ``yield_spec.max_group_accuracy_drop`` is unset


def group_metrics(names: dict[int, str]) -> tuple[Metric, ...]:
    """The per-chip columns of the k-group reading (``dataset.groups: all``): the worst-pair gap,
    raw and bias-corrected, pooled F1, then each group's accuracy and churn."""
    k = VALUE_PREFIX
    return (Metric(k + "eodds", "worst-pair EOdds", True), Metric(k + "eodds_bc", "worst-pair EOdds bias-corr.", True),
            Metric("f1_micro", "pooled F1", False),
            *(Metric(f"{k}acc_g{i}", f"acc {n}", False) for i, n in names.items()),
            *(Metric(f"{k}churn_g{i}", f"churn {n}", True) for i, n in names.items()))


def yield_interval(k: int, n: int, level: float = LEVEL) -> tuple[float, float, float]:
    """(k/n, lower, upper): the share and its exact binomial (Clopper-Pearson) interval."""
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return k / n, float(ci.low), float(ci.high)


def seeds_interval(yields: np.ndarray | list[float], level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, lower, upper): the mean of the seeds' yields (each seed's chips meeting the spec over
    its chips) with its t-interval over seeds (n_seeds − 1 degrees of freedom), clipped to [0, 1].

    Why over seeds: the chips of one seed share one trained model, so they are a cluster, not
    independent draws; the spread between seeds' yields carries the variation between trained
    models that the pooled Clopper-Pearson interval leaves out. The mean of the proportions
    estimates the per-seed mean yield, each trained model weighted equally whatever its chip count:
    the yield a designer faces when a new model is trained. Where seeds have different chip counts
    it differs from the pooled share, which weights seeds by their chips. One seed: the mean with a
    NaN interval (no spread between trained models is seen). Seeds that all show the same yield
    give an interval of no width, which is no evidence of precision: the pooled one speaks there.
    """
    p = np.asarray(yields, dtype=np.float64)
    if p.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(p.mean())
    if p.size < 2:
        return mean, float("nan"), float("nan")
    from scipy.stats import t

    half = float(t.ppf(0.5 + level / 2, p.size - 1)) * float(p.std(ddof=1)) / np.sqrt(p.size)
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def spec_gap(spec: YieldSpecSection, claims_gap: str | None = None, groups: dict[int, str] | None = None) -> str:
    """The gap the spec asks for: its own ``gap`` when set, else the claims' gap (``claims_gap``,
    the claims section's default when not given), so chips and claims are judged on one metric; with
    the k-group reading (``groups``) the spec's own gap is read over the k groups too."""
    if spec.gap:
        return VALUE_PREFIX + spec.gap if groups else spec.gap
    return claims_gap or ClaimsSection().gap


def group_drop(spec: YieldSpecSection) -> float:
    """How much accuracy any one group may lose on a chip, in the k-group reading."""
    return DEFAULT_GROUP_DROP if spec.max_group_accuracy_drop is None else spec.max_group_accuracy_drop


def judge(frames: dict[int, pd.DataFrame], spec: YieldSpecSection, gap: str, groups: dict[int, str] | None = None
          ) -> pd.DataFrame:
    """Every chip row of every seed, with ``study_seed`` and ``meets``: whether the chip meets the
    spec against its own seed's digital model (a missing value fails it). With the k-group reading
    (``groups``) a chip also needs every group to lose at most ``group_drop`` accuracy, and
    ``meets_g<i>`` says whether group i did."""
    parts = []
    for seed, df in sorted(frames.items()):
        base = baseline_row(df)
        chips = of_kind(df, *CHIP_KINDS).copy()
        if chips.empty:
            continue
        chips["study_seed"] = seed
        chips["meets"] = ((chips[gap] <= base[gap] + spec.max_eodds_increase + TOLERANCE)
                          & (chips["f1_micro"] >= base["f1_micro"] - spec.max_f1_drop - TOLERANCE))
        for i in groups or {}:
            column = f"{VALUE_PREFIX}acc_g{i}"
            chips[f"meets_g{i}"] = chips[column] >= base[column] - group_drop(spec) - TOLERANCE
            chips["meets"] &= chips[f"meets_g{i}"]
        parts.append(chips)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def distribution(values: pd.Series, worst_is_high: bool) -> dict[str, float]:
    """5th / 50th / 95th percentile (numpy's linear interpolation) and the worst chip; NaN when
    no chip has the value (rows stored before the column existed)."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {**{f"p{q}": float("nan") for q in PERCENTILES}, "worst": float("nan")}
    return {**{f"p{q}": float(p) for q, p in zip(PERCENTILES, np.percentile(v, PERCENTILES))},
            "worst": float(v.max() if worst_is_high else v.min())}


def summary(chips: pd.DataFrame, by: list[str] | None = None, metrics: tuple[Metric, ...] = METRICS
            ) -> pd.DataFrame:
    """Per cell (or ``by``): chips, chips meeting the spec, the pooled yield with its Clopper-Pearson
    interval (``yield_lo``, ``yield_hi``), and each metric's percentiles and worst chip (columns
    ``<metric>_p5`` … ``<metric>_worst``). Unless ``by`` splits the seeds: the number of seeds
    and the mean of their yields with its interval over seeds (``seeds``, ``yield_seeds``,
    ``yield_lo_seeds``, ``yield_hi_seeds``; see ``seeds_interval``: NaN interval with one seed)."""
    by = by or CELL
    over_seeds = "study_seed" not in by
    rows = []
    for key, part in chips.groupby(by, dropna=False, sort=False):
        n, k = len(part), int(part["meets"].sum())
        share, lo, hi = yield_interval(k, n)
        row: dict[str, Any] = {**dict(zip(by, key)), "chips": n, "meet": k, "yield": share, "yield_lo": lo,
                               "yield_hi": hi}
        if over_seeds:
            per_seed = part.groupby("study_seed")["meets"].mean()
            mean, s_lo, s_hi = seeds_interval(per_seed.to_numpy())
            row.update(seeds=len(per_seed), yield_seeds=mean, yield_lo_seeds=s_lo, yield_hi_seeds=s_hi)
        for group in (c[len("meets_g"):] for c in part.columns if c.startswith("meets_g")):
            row[f"yield_g{group}"] = float(part[f"meets_g{group}"].mean())
        for m in metrics:
            column = part[m.column] if m.column in part else pd.Series(dtype=float)
            row.update({f"{m.column}_{s}": v for s, v in distribution(column, m.worst_is_high).items()})
        rows.append(row)
    return _sorted(pd.DataFrame(rows))


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    """Preset, intensity, target (uniform first), then methods in registry order."""
    if table.empty:
        return table
    rank = {m: i for i, m in enumerate(ordered(table["method"]))}
    return (table.assign(_m=table["method"].map(rank))
            .sort_values(["preset", "intensity", "target", "_m"], na_position="first", kind="stable")
            .drop(columns="_m").reset_index(drop=True))


def ranking(table: pd.DataFrame) -> pd.DataFrame:
    """Technologies ranked by yield at each comparable setting (method × target), each at its own
    intensities; ties share a rank; settings with one technology are left out."""
    parts = []
    for _, part in table.groupby(["method", "target"], dropna=False, sort=False):
        if part["preset"].nunique() < 2:
            continue
        part = part.sort_values(["yield", "yield_lo", "preset", "intensity"], ascending=[False, False, True, True])
        parts.append(part.assign(rank=part["yield"].rank(ascending=False, method="min").astype(int)))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    order = {m: i for i, m in enumerate(ordered(out["method"]))}
    return (out.assign(_m=out["method"].map(order))
            .sort_values(["_m", "target", "rank"], na_position="first", kind="stable").drop(columns="_m"))


def _pct(r: pd.Series, suffix: str = "") -> str:
    """A yield and its interval in percent: pooled, or over seeds (``suffix`` "_seeds")."""
    share, lo, hi = (r[f"yield{suffix}"], r[f"yield_lo{suffix}"], r[f"yield_hi{suffix}"])
    if pd.isna(share):
        return "n/a"
    if pd.isna(lo):  # over seeds, a cell only one seed has
        return f"{100 * share:.0f}% (one seed)"
    if suffix and lo == hi:  # every seed the same yield: no spread to measure
        return f"{100 * share:.0f}% (seeds alike)"
    return f"{100 * share:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]"


def _spread(r: pd.Series, column: str) -> str:
    cells = [r[f"{column}_{s}"] for s in ("p5", "p50", "p95", "worst")]
    if pd.isna(cells[0]):
        return "n/a"
    return " / ".join(f"{v:.3f}" for v in cells[:3]) + f" ({cells[3]:.3f})"


def _cell(r: pd.Series) -> tuple[Any, ...]:
    """A cell's key with a missing target (uniform errors) as None, so keys compare equal."""
    return tuple(None if c == "target" and pd.isna(r[c]) else r[c] for c in CELL)


def _key(r: pd.Series) -> str:
    return f"{r['preset']} | {r['intensity']:g} | {r['method']} | {target_label(r['target'])}"


def _intro(frames: dict[int, pd.DataFrame], spec: YieldSpecSection, gap: str, asked: str,
           groups: dict[int, str] | None = None) -> list[str]:
    bases = {s: baseline_row(df) for s, df in frames.items()}
    digital = "; ".join(f"{'seed ' + str(s) + ': ' if len(bases) > 1 else ''}{gap} {b[gap]:.3f}, pooled F1 "
                        f"{b['f1_micro']:.3f}" for s, b in sorted(bases.items()))
    points = f"{100 * spec.max_f1_drop:g} point{'' if spec.max_f1_drop == 0.01 else 's'}"
    text = ("A designer ships every chip, not the mean chip. A chip **meets the fairness spec** when its "
            f"{GAPS[gap]} is at most {spec.max_eodds_increase:g} above the digital (pre-trained) model's and "
            f"its pooled F1 at most {points} below it (`yield_spec` in the study, its gap "
            + ("the claims' gap" if spec.gap is None else "set by `yield_spec.gap`")
            + f"; digital model: {digital})"
            + (f", and **no group loses more than {100 * group_drop(spec):g} accuracy points** against the digital "
               f"model (`yield_spec.max_group_accuracy_drop`; {len(groups)} groups)" if groups else "")
            + ". The **yield** is the share of a cell's chips that meet it, with its exact 95% binomial "
            "(Clopper-Pearson) interval.")
    if gap != asked:
        text += f" The study asks for `{asked}`, which rows stored before it existed lack: judged on `{gap}`."
    if len(frames) > 1:
        text += (" **Pooled over seeds**: every chip of every seed, each judged against its own seed's digital "
                 "model, with the Clopper-Pearson interval; **over seeds**: the mean of the seeds' yields with a 95% "
                 "t-interval over seeds (seeds − 1 degrees of freedom), each seed's chips one cluster since they "
                 "share one trained model.")
    return ["## Fairness across the chip population", "", text, "",
            "Drift rows are left out: a chip read at several times is one chip.", ""]


def _yield_table(table: pd.DataFrame, per_seed: pd.DataFrame | None) -> list[str]:
    seeds = sorted(per_seed["study_seed"].unique()) if per_seed is not None else []
    counts = {} if per_seed is None else {(*_cell(r), r["study_seed"]): f"{r['meet']}/{r['chips']}"
                                          for _, r in per_seed.iterrows()}
    lines = ["### Fairness yield per cell", ""]
    if seeds:
        lines += ["Trust the over-seeds interval for a method: a method is judged by what it gives the next trained "
                  "model, and only the spread between seeds measures how much that varies. The pooled interval "
                  "treats every chip as independent, so it holds for these trained models only. Where every seed "
                  "shows the same yield (*seeds alike*) the t-interval has no width, which is no evidence of "
                  "precision: read the pooled interval there.", ""]
    lines += ["| preset | intensity | method | target | chips | meet spec | "
              + ("yield over seeds [95% CI] | pooled yield [95% CI] |" if seeds else "yield [95% CI] |")
              + (f" per seed (seeds {', '.join(map(str, seeds))}): met / chips |" if seeds else ""),
              "|---|---|---|---|---|---|---|" + ("---|---|" if seeds else "")]
    for _, r in table.iterrows():
        line = f"| {_key(r)} | {r['chips']} | {r['meet']} | " + (f"{_pct(r, '_seeds')} | " if seeds else "") \
            + f"{_pct(r)} |"
        if seeds:
            line += " " + ", ".join(counts.get((*_cell(r), s), "–") for s in seeds) + " |"
        lines.append(line)
    return lines + [""]


def _distribution_table(table: pd.DataFrame, metrics: tuple[Metric, ...] | None = None) -> list[str]:
    metrics = metrics or tuple(m for m in METRICS if m.column in SHOWN)
    lines = ["### Distribution over chips", "",
             "Each cell: 5th / 50th / 95th percentile over chips (worst chip). Churn = share of the group's test "
             "predictions the chip changed against the digital model; n/a where the rows predate it.", "",
             "| preset | intensity | method | target | " + " | ".join(m.label for m in metrics) + " |",
             "|---|---|---|---|" + "---|" * len(metrics)]
    lines += [f"| {_key(r)} | " + " | ".join(_spread(r, m.column) for m in metrics) + " |"
              for _, r in table.iterrows()]
    return lines + [""]


def _group_yield_table(table: pd.DataFrame, groups: dict[int, str], drop: float) -> list[str]:
    """Per cell and group: the share of chips on which that group loses at most ``drop`` accuracy."""
    lines = ["### Yield per group", "",
             f"Share of each cell's chips on which the group loses at most {100 * drop:g} accuracy points against the "
             "digital model (the per-group part of the spec); the lowest share names the group the technology "
             "hurts most (– where every group shares it).", "",
             "| preset | intensity | method | target | " + " | ".join(groups.values()) + " | group hurt most |",
             "|---|---|---|---|" + "---|" * (len(groups) + 1)]
    for _, r in table.iterrows():
        shares = {i: r[f"yield_g{i}"] for i in groups}
        worst = min(shares, key=lambda i: (shares[i], i))
        lines.append(f"| {_key(r)} | " + " | ".join(f"{100 * v:.0f}%" for v in shares.values())
                     + f" | {groups[worst] if shares[worst] < max(shares.values()) else '–'} |")
    return lines + [""]


def _ranking_table(ranked: pd.DataFrame) -> list[str]:
    if ranked.empty:
        return []
    lines = ["### Technologies ranked by yield", "",
             "At each setting (method × target) every technology at each of its intensities, best yield first (the "
             "intensity knobs differ between technologies, so they are not matched). Ties share a rank; entries "
             "whose intervals overlap are not separated at 95%.", "",
             "| method | target | rank | technology | intensity | chips | yield [95% CI] |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {target_label(r['target'])} | {r['rank']} | {r['preset']} | {r['intensity']:g} | "
              f"{r['chips']} | {_pct(r)} |" for _, r in ranked.iterrows()]
    return lines + [""]


def section(frames: dict[int, pd.DataFrame], spec: YieldSpecSection, out: Path,
            claims_gap: str | None = None, groups: dict[int, str] | None = None) -> list[str]:
    """The report's population section from each seed's rows (pooled over seeds and over seeds,
    with per-seed counts, when there are several); writes ``population.csv`` (and
    ``population_by_seed.csv``) and the yield figure into ``out``. Nothing when no chip rows
    exist. The chips are judged on ``spec.gap``, or when it is unset on ``claims_gap`` (the
    study's ``claims.gap``): see ``spec_gap``. ``groups``: the k-group reading's group names
    (``dataset.groups: all``): the spec then also bounds each group's accuracy loss, and the tables
    show every group."""
    asked = spec_gap(spec, claims_gap, groups)
    gap = gap_metric(frames, asked)
    chips = judge(frames, spec, gap, groups)
    if chips.empty:
        return []
    metrics = group_metrics(groups) if groups else METRICS
    table = summary(chips, metrics=metrics)
    per_seed = summary(chips, CELL + ["study_seed"], metrics) if len(frames) > 1 else None
    write_csv(out / "population.csv", table.assign(gap=gap), float_format="%.6g")
    if per_seed is not None:
        write_csv(out / "population_by_seed.csv", per_seed.assign(gap=gap), float_format="%.6g")
    figure = figures.yield_curves(table, out)
    lines = _intro(frames, spec, gap, asked, groups)
    lines += _yield_table(table, per_seed)
    lines += [f"![Fairness yield vs intensity]({figure})", ""]
    if groups:
        lines += _group_yield_table(table, groups, group_drop(spec))
    lines += _distribution_table(table, metrics if groups else None)
    lines += _ranking_table(ranking(table))
    return lines
