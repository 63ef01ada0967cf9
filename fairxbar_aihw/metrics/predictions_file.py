"""Read a predictions CSV (label, pred, group, optional score_<class>) for `fairxbar-aihw metrics`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from .core import compute

REQUIRED = ("label", "pred", "group")


def metrics_from_csv(path: str | Path) -> dict[str, Any]:
    """Audit any model from its predictions file; errors name the missing column or bad value."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"predictions file not found: {path} (give a CSV with columns label,pred,group)")
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for unreadable files
        raise DataError(f"cannot read {path} as CSV: {exc}") from exc
    if df.empty:
        raise DataError(f"{path} has a header but no rows; it needs one row per prediction")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(
            f"{path} lacks column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))} "
            "(need label, pred, group and optionally score_<class>)"
        )
    for col in REQUIRED:
        if df[col].isna().any() or not pd.api.types.is_integer_dtype(df[col]):
            raise DataError(f"column '{col}' in {path} must hold integers with no blanks")
    score_cols = sorted(
        (c for c in df.columns if str(c).startswith("score_")), key=lambda c: int(str(c)[6:])
        if str(c)[6:].isdigit() else 10**9,
    )
    scores = None
    num_classes = None
    if score_cols:
        ids = [str(c)[6:] for c in score_cols]
        if not all(i.isdigit() for i in ids) or [int(i) for i in ids] != list(range(len(ids))):
            raise DataError(f"score columns must be score_0..score_{{K-1}}; found {', '.join(score_cols)}")
        try:
            scores = df[score_cols].to_numpy(dtype=np.float64)
        except ValueError as exc:
            raise DataError(f"score columns in {path} must hold numbers ({exc})") from exc
        nan_rows = np.flatnonzero(np.isnan(scores).any(axis=1))
        if len(nan_rows):
            raise DataError(f"{path}: {len(nan_rows)} row(s) have a blank or NaN score (first: data row "
                            f"{nan_rows[0] + 1}); fill every score_<k> or drop the score columns")
        num_classes = len(score_cols)
    return compute(df["label"].to_numpy(), df["pred"].to_numpy(), df["group"].to_numpy(),
                   scores=scores, num_classes=num_classes)
