"""Replication on fresh seeds: a study's claims table beside another run's of the same study on
disjoint training seeds (``report NAME --replicate OTHER``), and which decided verdicts replicate.

Why: a verdict judged across seeds 0–4 is a statement about the method only if fresh seeds decide
it the same way. Rows are matched on ``KEY`` (a table without ``scope`` has only average rows);
two labels of each row are compared separately: the ``verdict`` and the reading against the
paper's magnitude (``vs_paper``, empty for claims the paper gives no magnitude: skipped). Run 1 is
this report; the replication rate is the share of run 1's decided labels that run 2 decides the
same way. Nothing here changes a verdict: it reports how they hold up.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ..csv_files import write_csv
from ..safe_files import write_atomic
from ..study.schema import StudyConfig
from .claims_chips import chip_differences, gap_metric
from .claims_registry import CLAIMS
from .claims_table import claim_table
from .markdown import arm_reading
from .verdicts import UNDECIDED

KEY = ("claim", "reading", "comparison", "preset", "scope")
LABELS = {"verdict": "verdict", "vs_paper": "vs paper"}  # column: how the text names it
PAPER_DECIDED = ("reproduced", "ruled out")
REPLICATED, CONTRADICTED, NOW_OPEN = "replicated", "contradicted", "not replicated (now undetermined)"
NEWLY, OPEN, MISSING = "newly decided", "open in both", "missing"
BAR = 0.90  # issue 31's acceptance bar: at least this share replicated, and none contradicted
MD, CSV = "replication.md", "replication.csv"
TOOL_TEXT = ("verdict_outcome", "vs_paper_outcome", "missing_in", "run_1_seeds", "run_2_seeds")
MEANING = {
    REPLICATED: "both runs decide the label the same way",
    CONTRADICTED: "both runs decide it, differently (e.g. *holds* against *does not hold* or *equivalent*, "
                  "*reproduced* against *ruled out*, a trade-off against *holds*)",
    NOW_OPEN: "run 1 decided it, run 2 leaves it *undetermined* or *suggestive*",
    NEWLY: "run 1 left it open, run 2 decides it (not counted in the rate: run 1 claimed nothing)",
    OPEN: "neither run decides it",
    MISSING: "the row exists in one run only (a setting left out, another configuration); a row run 1 decided "
             "counts as not replicated",
}


def claims_of(frames: dict[int, pd.DataFrame], cfg: StudyConfig, base_sd: dict[int, float] | None = None
              ) -> pd.DataFrame:
    """The claims table of the seeds in ``frames`` (their rows, as ``Study.frames`` gives them),
    decided as the report decides it, with its ``gap`` column; nothing is written."""
    settings = cfg.claims
    gap = gap_metric(frames, cfg.gap_column(settings.gap))
    chips, _ = chip_differences(frames, arm_reading(cfg), gap, base_sd)
    table, _ = claim_table(chips, settings)
    return table.assign(gap=gap) if len(table) else table


def label(value: Any) -> str:
    """A label cell as text ("" for an empty or missing cell)."""
    if not isinstance(value, str) and (value is None or pd.isna(value)):
        return ""
    return str(value).strip()


def decided(column: str, value: Any) -> bool:
    """Whether ``value`` of label ``column`` is a decision: a verdict other than *undetermined* /
    *suggestive*; a ``vs_paper`` of *reproduced* or *ruled out*."""
    text = label(value)
    return text in PAPER_DECIDED if column == "vs_paper" else bool(text) and text not in UNDECIDED


def outcome(column: str, first: Any, second: Any) -> str:
    """What became of run 1's label ``first`` in run 2 (``second``)."""
    a, b = decided(column, first), decided(column, second)
    if a and b:
        return REPLICATED if label(first) == label(second) else CONTRADICTED
    return NOW_OPEN if a else NEWLY if b else OPEN


def _rows(table: pd.DataFrame) -> dict[tuple[str, ...], dict[str, str]]:
    """Each row's labels by its key, in the table's order; ``scope`` "average" where the table has
    none, a missing ``vs_paper`` empty. A key seen twice keeps its first row."""
    out: dict[tuple[str, ...], dict[str, str]] = {}
    for r in table.to_dict("records"):
        key = tuple(label(r.get(k)) or ("average" if k == "scope" else "") for k in KEY)
        out.setdefault(key, {c: label(r.get(c)) for c in LABELS})
    return out


def replication_table(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """One row per key of either table (run 1's order, then rows only run 2 has): each label in both
    runs and its outcome; ``missing_in`` names the run without the row. A ``vs_paper`` empty in both
    runs (a claim without a paper magnitude) has no outcome."""
    a, b = _rows(first), _rows(second)
    rows = []
    for key in list(a) + [k for k in b if k not in a]:
        one, two = a.get(key), b.get(key)
        row: dict[str, str] = dict(zip(KEY, key))
        row["missing_in"] = "run 2" if two is None else "run 1" if one is None else ""
        for column in LABELS:
            x, y = (one or {}).get(column, ""), (two or {}).get(column, "")
            row[f"{column}_1"], row[f"{column}_2"] = x, y
            row[f"{column}_outcome"] = ("" if column == "vs_paper" and not (x or y) else
                                        MISSING if row["missing_in"] else outcome(column, x, y))
        rows.append(row)
    columns = [*KEY, *(f"{c}_{s}" for c in LABELS for s in ("1", "2", "outcome")), "missing_in"]
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class Tally:
    """Outcomes of some labels: ``decided`` counts run 1's decided labels (the rate's denominator),
    ``missing`` those among them run 2 lacks."""

    decided: int = 0
    replicated: int = 0
    contradicted: int = 0
    now_open: int = 0
    missing: int = 0
    newly: int = 0
    open_in_both: int = 0

    @property
    def rate(self) -> float:
        return self.replicated / self.decided if self.decided else math.nan

    @property
    def meets_bar(self) -> bool | None:
        """≥ ``BAR`` replicated and none contradicted; None when run 1 decided nothing."""
        return None if not self.decided else self.rate >= BAR and not self.contradicted


def tally(table: pd.DataFrame, columns: Iterable[str] = tuple(LABELS)) -> Tally:
    """The outcomes of labels ``columns`` of a ``replication_table``, counted together."""
    counts: dict[str, int] = {}
    decided_1 = missing = 0
    for column in columns:
        first = table[f"{column}_1"].map(lambda v, c=column: decided(c, v))
        results = table[f"{column}_outcome"]
        decided_1 += int(first.sum())
        missing += int((first & (results == MISSING)).sum())
        for name, n in results.value_counts().items():
            counts[name] = counts.get(name, 0) + int(n)
    return Tally(decided_1, counts.get(REPLICATED, 0), counts.get(CONTRADICTED, 0), counts.get(NOW_OPEN, 0),
                 missing, counts.get(NEWLY, 0), counts.get(OPEN, 0))


def _percent(t: Tally) -> str:
    """The rate in percent, rounded down to 0.1 in whole numbers (89.96% never reads as the bar's 90%)."""
    return f"{1000 * t.replicated // t.decided / 10:g}%"


def _share(t: Tally) -> str:
    return f"{t.replicated} of {t.decided}"


def summary_line(table: pd.DataFrame) -> str:
    """One line: the replication rate (labels together, then verdicts and vs-paper labels apart),
    contradictions, and whether the acceptance bar is met (a statement, never a change of verdict)."""
    t, v, p = tally(table), tally(table, ["verdict"]), tally(table, ["vs_paper"])
    bar = f"acceptance bar (≥ {100 * BAR:.0f}% replicated, none contradicted): "
    if not t.decided:
        return (f"Replication: run 1 decided no label, so none can replicate ({t.newly} newly decided in run 2, "
                f"{t.open_in_both} open in both); {bar}not assessable.")
    return (f"Replication: {_share(t)} decided labels replicated ({_percent(t)}; verdicts {_share(v)}, "
            f"vs paper {_share(p)}); {t.contradicted} contradicted, {t.now_open} now undetermined, {t.missing} "
            f"missing in run 2; {t.newly} newly decided; {bar}{'met' if t.meets_bar else 'not met'}.")


def _cell(text: Any) -> str:
    """A markdown table cell: "—" when empty, pipes and line breaks escaped."""
    shown = label(text)
    return " ".join(shown.replace("|", "\\|").split()) if shown else "—"


def _claim_cell(key: str) -> str:
    claim = CLAIMS.get(key)
    return f"({_cell(key)})" + (f" {claim.short}" if claim else "")


def _outcome_cell(text: str) -> str:
    return f"**{text}**" if text in (CONTRADICTED, NOW_OPEN) else _cell(text)


def expected_rate(first: pd.DataFrame) -> float:
    """The share of run 1's decided labels that should replicate by run 1's own estimates (its
    ``replication_power`` and ``paper_replication_power`` columns, Goodman 1992): what the observed
    rate is to be read against. NaN when run 1 has no such estimates (one seed, older tables)."""
    values = [first[c].dropna() for c in ("replication_power", "paper_replication_power") if c in first]
    values = pd.concat(values) if values else pd.Series(dtype=float)
    return float(values.mean()) if len(values) else math.nan


def markdown_lines(table: pd.DataFrame, run_1: str, run_2: str, notes: Iterable[str] = (),
                   expected: float = math.nan) -> list[str]:
    """The replication section: which runs, the side-by-side table, the summary and the bar, what
    each outcome means, and the rows one run lacks. ``run_1`` / ``run_2`` describe the runs (their
    seeds); ``notes`` are lines on how far the two are comparable."""
    lines = ["## Replication on fresh seeds", "",
             f"**Run 1**: {run_1}. **Run 2**: {run_2}. Each row of run 1's claims table is set beside the row "
             "of run 2 with the same claim, F+A R reading, comparison, error type and scope; the verdict and "
             "the reading against the paper are compared separately. Decided: a verdict other than "
             "*undetermined* or *suggestive*; *reproduced* or *ruled out* against the paper. Nothing here changes "
             "a verdict.", ""]
    lines += [f"> {n}" for n in notes] + ([""] if notes else [])
    lines += ["| claim | reading | A vs B | error type | scope | verdict run 1 | verdict run 2 | outcome | "
              "vs paper run 1 | vs paper run 2 | outcome |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        lines.append(f"| {_claim_cell(r['claim'])} | {_cell(r['reading'])} | {_cell(r['comparison'])} | "
                     f"{_cell(r['preset'])} | {_cell(r['scope'])} | {_cell(r['verdict_1'])} | {_cell(r['verdict_2'])} "
                     f"| {_outcome_cell(r['verdict_outcome'])} | {_cell(r['vs_paper_1'])} | {_cell(r['vs_paper_2'])} "
                     f"| {_outcome_cell(r['vs_paper_outcome'])} |")
    if table.empty:
        lines.append("| — | — | — | — | — | — | — | — | — | — | — |")
    lines += ["", f"**{summary_line(table)}**", "",
              f"Rate: run 2's matching decisions over run 1's decided labels (verdicts and vs-paper readings "
              f"counted together; each kind apart in brackets). The acceptance bar (the project's, issue 31): ≥ "
              f"{100 * BAR:.0f}% of the decided labels replicate and none is contradicted." + (
                  "" if math.isnan(expected) else
                  f" Expected from run 1's own estimates (its *replicates (est.)* column, the mean over its decided "
                  f"labels): **{100 * expected:.0f}%** — the rate to read the observed one against; a bar above it "
                  "asks more of these seeds than their spread allows."), ""]
    lines += [f"- **{name}**: {meaning}." for name, meaning in MEANING.items()]
    gone = table[table["missing_in"] != ""]
    if len(gone):
        lines += ["", "**Rows in one run only:**", ""]
        lines += [f"- {_claim_cell(r['claim'])} {_cell(r['comparison'])}, {_cell(r['preset'])}, {_cell(r['scope'])}"
                  f" ({_cell(r['reading'])}): missing in {r['missing_in']}." for r in gone.to_dict("records")]
    return lines + [""]


def seeds_in(table: pd.DataFrame) -> list[int] | None:
    """The seeds a claims table was judged on, from its ``per_seed`` column ("0: holds; 1: n.s.");
    None when it does not say."""
    if "per_seed" not in table:
        return None
    found = {int(m) for text in table["per_seed"].map(label) for m in re.findall(r"(?:^|; )(\d+):", text)}
    return sorted(found) or None


def seeds_text(seeds: Iterable[int] | None) -> str:
    return ",".join(str(s) for s in seeds) if seeds is not None else ""


def write_replication(out: Path, table: pd.DataFrame, lines: list[str], seeds_1: list[int],
                      seeds_2: list[int] | None) -> Path:
    """``replication.md`` (``lines`` under a title, a link back to the report) and ``replication.csv``
    (``table`` with each run's seeds) into report folder ``out``; returns the markdown's path."""
    write_csv(out / CSV, table.assign(run_1_seeds=seeds_text(seeds_1), run_2_seeds=seeds_text(seeds_2)),
              TOOL_TEXT)
    head = ["# Replication of this report's verdicts", "", "Back to [the report](README.md); the numbers are in "
            f"`{CSV}`.", ""]
    return write_atomic(out / MD, "\n".join(head + lines).encode("utf-8"))


def readme_lines(out: Path, seeds: list[int]) -> list[str]:
    """The report's line pointing at ``replication.md`` when ``out`` holds one; it says so when the
    replication was made for other seeds or other verdicts than the report's ``claims.csv`` now has
    (the report was rewritten since: rerun ``report --replicate``)."""
    if not (out / MD).is_file():
        return []
    try:
        table = pd.read_csv(out / CSV, dtype=str, keep_default_na=False)
        current = _rows(pd.read_csv(out / "claims.csv", dtype=str, keep_default_na=False))
        first = _rows(table[table["missing_in"] != "run 1"].rename(columns={f"{c}_1": c for c in LABELS}))
        fresh = len(table) > 0 and set(table["run_1_seeds"]) == {seeds_text(seeds)} and first == current
    except (OSError, ValueError, KeyError, pd.errors.ParserError):
        fresh = False
    if not fresh:
        return [f"**Replication**: [{MD}]({MD}) was written for an earlier version of this report (other seeds or "
                "other verdicts); rerun `fairxbar-aihw report` with `--replicate` to bring it up to date.", ""]
    other = table["run_2_seeds"].iloc[0]
    return [f"**{summary_line(table)}** Run 2: " + (f"seeds {other}" if other else "another report") +
            f"; the rows side by side: [{MD}]({MD}).", ""]
