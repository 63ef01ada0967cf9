"""The per-group table of a study that reads every group value (``dataset.groups: all``).

Why its own section: with k skin types (or ITA bands, or intersections) a designer asks which
chips hurt which type most, which the two-group columns cannot say. Each row is a sweep cell (the
digital model first): every group's accuracy, mean over chips (and seeds), the worst-pair gap the
claims and yield judge, and the pair of groups that is most often the worst.

Why the worst pair judges the claims: it is the paper's two-group EOdds between two real groups,
so the paper's thresholds read on the same scale; the per-class range over groups mixes groups
(the highest TPR and the lowest FPR may come from different ones) and only bounds it from above.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..metrics.registry import VALUE_PREFIX
from . import figures
from .rows import baseline_row, chips, of_kind
from ..study.keys import RowKind

CELL = ["preset", "intensity", "method", "target"]


def value_names(groups_meta: dict[str, Any] | None) -> dict[int, str] | None:
    """The k-group reading's names by code, from a run's ``groups`` metadata; None for a two-group run."""
    names = (groups_meta or {}).get("values")
    return {i: str(n) for i, n in enumerate(names)} if names else None


def _pair(r: pd.Series | pd.DataFrame, names: dict[int, str]) -> str:
    a, b = r[f"{VALUE_PREFIX}worst_pair_a"], r[f"{VALUE_PREFIX}worst_pair_b"]
    if isinstance(a, pd.Series):  # many chips: the pair most often the worst
        pairs = pd.Series(list(zip(a.astype(int), b.astype(int))))
        (a, b), count = pairs.value_counts().index[0], int(pairs.value_counts().iloc[0])
        return f"{names[a]}–{names[b]} ({count}/{len(pairs)})"
    return f"{names[int(a)]}–{names[int(b)]}"


def section(frames: dict[int, pd.DataFrame], names: dict[int, str], out: Path) -> list[str]:
    """The per-group table over every seed's rows (means over chips and seeds), and its heatmap of
    each group's accuracy change in ``out``."""
    k = VALUE_PREFIX
    acc = [f"{k}acc_g{i}" for i in names]
    if len(names) < 3 or f"{k}worst_pair_a" not in next(iter(frames.values())):
        return []  # a two-value reading is the two-group report itself
    bases = pd.DataFrame([baseline_row(df) for df in frames.values()])
    cells = pd.concat([of_kind(chips(df), RowKind.SWEEP) for df in frames.values()], ignore_index=True)
    lines = [f"## Every group ({len(names)} groups)", "",
             "Accuracy of each group, mean over chips and seeds (the digital model first), the worst-pair EOdds "
             "(the largest two-group EOdds between any two groups: what the claims and the yield judge here, "
             "raw and bias-corrected) and the pair most often the worst over chips. Per-type yield is in the "
             "population section.", "",
             "| preset | intensity | method | target | " + " | ".join(names.values())
             + " | worst-pair EOdds | bias-corr. | worst pair |",
             "|---|---|---|---|" + "---|" * (len(names) + 3)]
    lines.append("| digital model | | | | " + " | ".join(f"{bases[c].mean():.3f}" for c in acc)
                 + f" | {bases[k + 'eodds'].mean():.3f} | {bases[k + 'eodds_bc'].mean():.3f} | {_pair(bases, names)} |")
    change = {}
    for key, part in cells.groupby(CELL, dropna=False, sort=False):
        target = "" if pd.isna(key[3]) else f"{key[3]:g}"
        change[" ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in key[:3]) + (f" @ {target}" if target
                                                                                        else "")] = \
            [part[c].mean() - bases[c].mean() for c in acc]
        lines.append(f"| {key[0]} | {key[1]:g} | {key[2]} | {target} | "
                     + " | ".join(f"{part[c].mean():.3f}" for c in acc)
                     + f" | {part[k + 'eodds'].mean():.3f} | {part[k + 'eodds_bc'].mean():.3f} | "
                     f"{_pair(part, names)} |")
    figure = figures.group_heatmap(pd.DataFrame.from_dict(change, orient="index", columns=list(names.values())), out)
    return lines + ["", f"![Accuracy change per group]({figure})", ""]
