"""``report NAME --replicate OTHER``: this study's claims beside another run's on disjoint seeds.

OTHER is fresh seeds of the same study (its one run folder holds every seed) or another report
folder of the same study, read as it was written. Both claims tables are compared as the report's
``claims.csv`` holds them; ``replication.md`` and ``replication.csv`` go beside the report. Read-only
like ``report``: it computes no chip and deletes nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..csv_files import neutralise
from ..errors import UserError, listing, quote_value
from ..report import replication as rep
from ..report.markdown import base_test_sd
from ..study.study import Study
from ..study.runfolder import REPORT_MARKER

CLAIMS_CSV = "claims.csv"
MAX_CLAIMS_BYTES = 16 << 20  # a claims table is a few kB; anything far larger is not one
NEEDED = ("claim", "reading", "comparison", "preset", "verdict")


@dataclass
class Replication:
    """What ``replicate_study`` wrote: ``replication.md``, its one-line summary and warnings
    (run 2's seeds unfinished)."""

    path: Path
    summary: str
    warnings: list[str] = field(default_factory=list)


def _claims(study: Study) -> pd.DataFrame:
    """The study's claims table over its seeds, as the report decides it."""
    base_sd = {s: base_test_sd(m) for s, m in study.metas(("baseline",)).items()}
    return rep.claims_of(study.frames(), study.cfg, base_sd)


def _as_written(table: pd.DataFrame) -> pd.DataFrame:
    """The key and label cells as ``claims.csv`` holds them (``write_csv`` neutralises text)."""
    return neutralise(table.reindex(columns=[*rep.KEY, *rep.LABELS]))


def _fresh_seeds(study: Study, other: Study) -> None:
    """Refuse seeds of run 2 that run 1 has, or that the run folder lacks (one line, the fix named)."""
    taken = sorted(set(study.seeds) & set(other.seeds))
    if taken:
        top = max(study.seeds + other.seeds)
        fresh = ",".join(str(top + 1 + i) for i in range(len(study.seeds)))
        command = other.command.rsplit(" --seeds ", 1)[0] + f" --seeds {fresh}"
        raise UserError(f"--replicate: the report already holds seed(s) {listing(taken)} (its seeds: "
                        f"{listing(study.seeds)}), and a replication needs fresh seeds; give seeds outside them, e.g. "
                        f"run `{command}` first, then `--replicate {fresh}`")
    missing = []
    for seed in other.seeds:
        try:
            other.run(seed)
        except UserError:
            missing.append(seed)
    if missing:
        raise UserError(f"--replicate: seed(s) {listing(missing)} of study '{study.name}' have no results in "
                        f"{other.folder.path} as configured now; run `{other.command}` first (it adds them to the "
                        "study's run folder), then rerun this command")


def _other_report(folder: Path, study: Study, out: Path) -> pd.DataFrame:
    """The claims table of another report folder of this study, read as written (nothing in it is
    changed); refused with one line when it is no such folder."""
    fix = f"give a report folder of study '{study.name}' (docs/reports/NAME of another run) or fresh seeds like 5,6,7"
    if not folder.is_dir():
        raise UserError(f"--replicate: {folder} is neither a comma-separated seed list nor a folder; {fix}")
    if folder.resolve() == out.resolve():
        raise UserError(f"--replicate: {folder} is this report's own folder; {fix}")
    try:
        recorded = json.loads((folder / REPORT_MARKER).read_text(encoding="utf-8")).get("study")
    except FileNotFoundError:
        raise UserError(f"--replicate: {folder} is not a report folder fairxbar-aihw wrote (no {REPORT_MARKER}); "
                        f"{fix}") from None
    except (OSError, ValueError, AttributeError):
        raise UserError(f"--replicate: {folder / REPORT_MARKER} is unreadable; {fix}") from None
    if recorded != study.name:
        raise UserError(f"--replicate: {folder} holds the report of study '{quote_value(recorded)}', not of "
                        f"'{study.name}'; {fix}")
    path = folder / CLAIMS_CSV
    if not path.is_file():
        raise UserError(f"--replicate: {folder} holds no {CLAIMS_CSV} (that run has no claims table yet: finish "
                        f"it and rewrite its report with `fairxbar-aihw report`); {fix}")
    if path.stat().st_size > MAX_CLAIMS_BYTES:
        raise UserError(f"--replicate: {path} is too large to be a claims table this tool wrote; {fix}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError):
        raise UserError(f"--replicate: {path} is not a readable CSV; {fix}") from None
    lacking = [c for c in NEEDED if c not in table.columns]
    if lacking:
        raise UserError(f"--replicate: {path} lacks the column(s) {', '.join(lacking)} of a claims table; {fix}")
    return table


def _gap_note(first: pd.DataFrame, second: pd.DataFrame) -> list[str]:
    gaps = [set(t["gap"]) if "gap" in t else {"unknown"} for t in (first, second)]
    if gaps[0] == gaps[1]:
        return []
    return [f"The runs judge on different gap metrics (run 1: {', '.join(sorted(map(str, gaps[0])))}; run 2: "
            f"{', '.join(sorted(map(str, gaps[1])))}): a label may move with the metric, not with the seeds."]


@dataclass
class RunTwo:
    """Run 2 of a replication: its claims table, its seeds (None: not recorded), how the section
    names it, notes on how comparable it is, and warnings for the command line."""

    table: pd.DataFrame
    seeds: list[int] | None
    described: str
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _fresh_run(other: Study) -> RunTwo:
    """Run 2 from fresh seeds of the study's run folder (checked by ``_fresh_seeds``)."""
    run = RunTwo(_claims(other), list(other.seeds), f"seeds {list(other.seeds)} of the same study, from its run folder")
    gaps = other.incomplete()
    if gaps:
        run.warnings.append(f"incomplete replication seeds: {gaps}")
        run.notes.append(f"**Run 2 is unfinished**: {gaps}")
    return run


def _folder_run(folder: Path, table: pd.DataFrame, seeds_1: list[int]) -> RunTwo:
    """Run 2 from another report folder's claims table; its seeds from the table's per-seed column."""
    seeds = rep.seeds_in(table)
    shown = " ".join(str(folder).replace("`", "'").split())
    run = RunTwo(table, seeds, f"the report in `{shown}`" + (f", seeds {seeds}" if seeds else
                                                             " (its seeds not recorded)"))
    shared = sorted(set(seeds or ()) & set(seeds_1))
    if shared:
        run.notes.append(f"**Not fresh seeds**: both runs hold seed(s) {shared}, so run 2 repeats them (another "
                         "machine or version): a reproduction, not a replication on fresh seeds.")
    return run


def replicate_study(study: Study, other: Study | Path) -> Replication:
    """This study's claims table (run 1: its seeds) beside ``other``'s (run 2: fresh seeds of the
    same run folder, or another report folder of this study), written as ``replication.md`` and
    ``replication.csv`` into the report folder, before the report itself so that it links them.
    Every check that can refuse runs before any claims table is computed."""
    seeds = list(study.seeds)
    if isinstance(other, Study):
        _fresh_seeds(study, other)
    else:
        written = _other_report(other, study, study.report_dir())
    first = _claims(study)
    if first.empty:
        raise UserError(f"--replicate: nothing to replicate: study '{study.name}' has no claims table yet (no sweep "
                        f"chips); run `{study.command}` first")
    run = _fresh_run(other) if isinstance(other, Study) else _folder_run(other, written, seeds)
    table = rep.replication_table(_as_written(first), _as_written(run.table))
    lines = rep.markdown_lines(table, f"this report, seeds {seeds}", run.described,
                               run.notes + _gap_note(first, run.table), rep.expected_rate(first))
    path = rep.write_replication(study.report_dir(claim=True), table, lines, seeds, run.seeds)
    return Replication(path, rep.summary_line(table), run.warnings)
