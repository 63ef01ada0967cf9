"""Which rows of a run's results a report section reads, by their typed kind (``study.keys.RowKind``).

Why: sections select rows here, never by comparing the ``kind`` column to text, so a renamed or
added kind changes in one place and cannot be missed in a section.
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

