"""How much of a run is done: the plan's rows against the stored rows, stage by stage.

Why: a report written while a study runs, or after it was killed, shows only the rows it has, so
it would silently leave out cells, methods, arms, drift and whole claims. Comparing every planned
row key (``StudyPlan.planned_rows``) with the committed rows lets the report and the CLI say what
is missing and which command finishes it.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping

from .keys import RowKey
from .plan import StudyPlan
from . import stages


def missing(plan: StudyPlan, done: Iterable[tuple[str, int]], diagnostics: Mapping[str, Any] | None) -> list[str]:
    """What one seed still lacks, one phrase per stage (e.g. "sweep chips 8 of 16 (2 of 4 cells
    complete)", "retrained arms 1 of 2 (missing VFA-Retrain)"); empty when the run is complete.
    ``done`` is the stored (row key, trial) pairs, ``diagnostics`` the stored diagnostics."""
    planned = plan.planned_rows()
    have = Counter(key for key, trial in done if trial < planned.get(key, 0))
    by_kind: dict[str, list[str]] = {}
    for key in planned:
        by_kind.setdefault(RowKey.parse(key).kind, []).append(key)
    out = []
    for kind, keys in by_kind.items():
        rows, wanted = sum(have[k] for k in keys), sum(planned[k] for k in keys)
        if rows >= wanted:
            continue
        phrase = f"{stages.REGISTRY.row_phrases[kind]} {rows} of {wanted}"
        if wanted == len(keys):  # one row each: name the missing ones
            names = [RowKey.parse(k).name() for k in keys if not have[k]]
            phrase += f" (missing {', '.join(n for n in names if n)})" if any(names) else ""
        else:
            phrase += f" ({sum(have[k] >= planned[k] for k in keys)} of {len(keys)} cells complete)"
        out.append(phrase)
    lacking = sorted(plan.diagnostic_models() - set(diagnostics or {}))
    if lacking:
        out.append(f"per-group diagnostics of {', '.join(lacking)}")
    return out


def default_command(cfg: Any) -> str:
    """The command that computes (and resumes) a study loaded by name."""
    return f"fairxbar-aihw study {cfg.name}" + (" --quick" if cfg.quick_mode else "")


def incomplete_line(gaps: Mapping[int, list[str]], command: str) -> str:
    """What each seed lacks and how to finish it, in one line for the report's top and the CLI
    ("" when nothing is missing)."""
    parts = [f"seed {seed}: {', '.join(g)}" for seed, g in sorted(gaps.items()) if g]
    if not parts:
        return ""
    return (f"missing {'; '.join(parts)}; the report leaves those out. Finish the run with `{command}` (it "
            "resumes and rewrites the report).")
