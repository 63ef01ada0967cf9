"""The paired differences each claim is judged on: per chip, per setting, per seed, A − B over
identical chips, from each seed's stored rows.

Why apart from the table: this is the one place that reads results rows for the claims; the
table (``claims_table``) and the replication check work on its output only.
"""
from __future__ import annotations

import pandas as pd

from ..study.keys import RowKind
from .claims_registry import PRE, comparisons
from .rows import CHIP_KINDS, baseline_row, chips, of_kind

SETTING = ["preset", "intensity", "target"]


def gap_metric(frames: dict[int, pd.DataFrame], preferred: str) -> str:
    """The gap column the claims use: ``preferred`` when every chip and baseline row has it (rows
    stored before bias-corrected gaps existed do not), else its raw form (``eodds``, ``k_eodds``)."""
    for df in frames.values():
        rows = of_kind(df, RowKind.BASELINE, *CHIP_KINDS)
        if preferred not in rows or rows[preferred].isna().any():
            return preferred.removesuffix("_bc")
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
