"""Read a predictions CSV (label, pred, group, optional id and score_<class>) for `fairxbar-aihw metrics`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from .core import compute

REQUIRED = ("label", "pred", "group")
ID_COLUMN = "id"  # optional: rows of two files are matched by it (``metrics --reference``)


@dataclass
class Predictions:
    """One model's predictions on a test set, validated: one entry per row of the file."""

    path: str
    labels: np.ndarray
    preds: np.ndarray
    groups: np.ndarray
    scores: np.ndarray | None  # (n, K) when the file has score_0..score_{K-1}
    ids: np.ndarray | None  # the id column as text, when the file has one

    @property
    def num_classes(self) -> int | None:
        return None if self.scores is None else int(self.scores.shape[1])


def _frame(source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        return source, "the predictions table"
    path = Path(source)
    if not path.is_file():
        raise DataError(f"predictions file not found: {path} (give a CSV with columns label,pred,group)")
    try:
        return pd.read_csv(path), str(path)
    except Exception as exc:  # pandas raises many types for unreadable files
        raise DataError(f"cannot read {path} as CSV: {exc}") from exc


def _ids(df: pd.DataFrame, path: str) -> np.ndarray | None:
    if ID_COLUMN not in df.columns:
        return None
    ids = df[ID_COLUMN]
    if ids.isna().any():
        raise DataError(f"{path}: column '{ID_COLUMN}' has {int(ids.isna().sum())} blank cell(s); give every row an "
                        "id or drop the column")
    text = ids.astype(str).str.strip().to_numpy()
    repeated = pd.Series(text).duplicated()
    if repeated.any():
        raise DataError(f"{path}: id '{text[np.flatnonzero(repeated)[0]]}' occurs more than once "
                        f"({int(repeated.sum())} repeat(s)); ids must name one test row each")
    return text


def read_predictions(source: str | Path | pd.DataFrame) -> Predictions:
    """A predictions CSV (or a DataFrame with its columns) as arrays; errors name the missing column
    or bad value."""
    df, path = _frame(source)
    if df.empty:
        raise DataError(f"{path} has a header but no rows; it needs one row per prediction")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(
            f"{path} lacks column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))} "
            "(need label, pred, group and optionally id and score_<class>)"
        )
    for col in REQUIRED:
        if df[col].isna().any() or not pd.api.types.is_integer_dtype(df[col]):
            raise DataError(f"column '{col}' in {path} must hold integers with no blanks")
    score_cols = sorted(
        (c for c in df.columns if str(c).startswith("score_")), key=lambda c: int(str(c)[6:])
        if str(c)[6:].isdigit() else 10**9,
    )
    scores = None
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
    return Predictions(path, df["label"].to_numpy(np.int64), df["pred"].to_numpy(np.int64),
                       df["group"].to_numpy(np.int64), scores, _ids(df, path))


def metrics_from_csv(path: str | Path) -> dict[str, Any]:
    """Audit any model from its predictions file."""
    p = read_predictions(path)
    return compute(p.labels, p.preds, p.groups, scores=p.scores, num_classes=p.num_classes)
