"""Which rows of a run's results a report section reads, by their typed kind (``study.keys.RowKind``).

Why: every section used to spell the kinds out ("baseline", "retrain-ideal", ...) in its own
comparison; one selector per question keeps a renamed or added kind from being missed somewhere.
"""
from __future__ import annotations

import pandas as pd

from ..study.keys import RowKind

CHIP_KINDS = (RowKind.SWEEP, RowKind.RETRAIN)  # one row per chip and cell; drift rows repeat a chip over time


def of_kind(df: pd.DataFrame, *kinds: RowKind) -> pd.DataFrame:
    """The rows of the given kinds."""
    return df[df["kind"].isin([str(k) for k in kinds])]


def chips(df: pd.DataFrame) -> pd.DataFrame:
    """One row per Monte-Carlo chip of a sweep cell or an arm's cell."""
    return of_kind(df, *CHIP_KINDS)


def baseline_row(df: pd.DataFrame) -> pd.Series:
    """The pre-trained model's row on ideal hardware."""
    return of_kind(df, RowKind.BASELINE).iloc[0]


def has_baseline(df: pd.DataFrame) -> bool:
    """Whether the frame holds the pre-trained model's row (a seed that has started its sweep)."""
    return "kind" in df and bool((df["kind"] == RowKind.BASELINE).any())
