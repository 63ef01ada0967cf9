"""Read a predictions CSV (label, pred, group, optional id and score_<class>) for `fairxbar-aihw metrics`.

Why explicit dtypes and only the needed columns: pandas' default reading keeps every column and
infers 8-byte types, and a file of short rows ("3,1,0") then needs about ten times its size in
memory; ids read as int32 and other columns skipped keep memory near the data's own size.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, clipped, header_listing, quote_value, quoted_listing
from .core import compute

REQUIRED = ("label", "pred", "group")
ID_DTYPE = np.int32  # class and group ids: 4 bytes a row each
SCORE_DTYPE = np.float64  # scores keep full precision: AUC depends on their ties and order
CHUNK_ROWS = 100_000  # rows per chunk when a bad value is searched for
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


def metrics_from_csv(path: str | Path) -> dict[str, Any]:
    """Audit any model from its predictions file; errors name the missing column or bad value."""
    p = read_predictions(path)
    return compute(p.labels, p.preds, p.groups, scores=p.scores, num_classes=p.num_classes)


def read_predictions(source: str | Path | pd.DataFrame) -> Predictions:
    """A predictions CSV (read compactly, see the module's docstring) or a DataFrame with its
    columns, as validated arrays; errors name the missing column or the bad value."""
    if isinstance(source, pd.DataFrame):
        return _from_frame(source, "the predictions table")
    path = Path(source)
    if not path.is_file():
        raise DataError(f"predictions file not found: {path} (give a CSV with columns label,pred,group)")
    try:
        columns = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except UnicodeDecodeError:
        raise DataError(f"cannot read {path} as CSV: it is not UTF-8 text; save it as UTF-8") from None
    except Exception as exc:  # pandas raises many types for unreadable files; its parser names lines, not text
        why = str(exc).splitlines()[0][:160] if isinstance(exc, pd.errors.ParserError | pd.errors.EmptyDataError) \
            else type(exc).__name__
        raise DataError(f"cannot read {path} as CSV ({why}); it must be a comma-separated table with a header "
                        "row") from None
    _check_columns(columns, str(path))
    score_cols = _score_columns(columns)
    data = load_predictions(path, score_cols)
    if not len(data["label"]):
        raise DataError(f"{path} has a header but no rows; it needs one row per prediction")
    scores = _checked_scores(np.stack([data.pop(c) for c in score_cols], axis=1), str(path)) if score_cols else None
    ids = None
    if ID_COLUMN in columns:
        ids = _ids(pd.read_csv(path, usecols=[ID_COLUMN], dtype=str, keep_default_na=False)[ID_COLUMN], str(path))
    return Predictions(str(path), data["label"], data["pred"], data["group"], scores, ids)


def _from_frame(df: pd.DataFrame, path: str) -> Predictions:
    columns = [str(c) for c in df.columns]
    _check_columns(columns, path)
    if df.empty:
        raise DataError(f"{path} has a header but no rows; it needs one row per prediction")
    for col in REQUIRED:
        if df[col].isna().any() or not pd.api.types.is_integer_dtype(df[col]):
            raise DataError(f"column '{col}' in {path} must hold integers with no blanks")
    score_cols = _score_columns(columns)
    scores = None
    if score_cols:
        try:
            scores = _checked_scores(df[score_cols].to_numpy(dtype=SCORE_DTYPE), path)
        except ValueError as exc:
            raise DataError(f"score columns in {path} must hold numbers ({clipped(str(exc))})") from exc
    ids = _ids(df[ID_COLUMN].astype(str).where(df[ID_COLUMN].notna(), ""), path) if ID_COLUMN in columns else None
    return Predictions(path, *(df[c].to_numpy(ID_DTYPE) for c in REQUIRED), scores, ids)


def _check_columns(columns: list[str], path: str) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        found = header_listing(columns)
        raise DataError(
            f"{path} lacks column(s) {', '.join(missing)}; "
            + (f"found {found} " if found else "its first line is not a header of column names ")
            + "(need label, pred, group and optionally id and score_<class>)"
        )


def _score_columns(columns: list[str]) -> list[str]:
    """score_0..score_{K-1} in class order (any other score_ name is an error)."""
    score_cols = sorted((c for c in columns if c.startswith("score_")),
                        key=lambda c: int(c[6:]) if c[6:].isdigit() else 10**9)
    ids = [c[6:] for c in score_cols]
    if not all(i.isdigit() for i in ids) or [int(i) for i in ids] != list(range(len(ids))):
        raise DataError(f"score columns must be score_0..score_{{K-1}}; found {quoted_listing(score_cols)}")
    return score_cols


def _checked_scores(scores: np.ndarray, path: str) -> np.ndarray:
    nan_rows = np.flatnonzero(np.isnan(scores).any(axis=1))
    if len(nan_rows):
        raise DataError(f"{path}: {len(nan_rows)} row(s) have a blank or NaN score (first: data row "
                        f"{nan_rows[0] + 1}); fill every score_<k> or drop the score columns")
    return scores


def _ids(ids: pd.Series, path: str) -> np.ndarray:
    """The id column as stripped text: every row named once."""
    text = ids.astype(str).str.strip()
    blank = text == ""
    if blank.any():
        raise DataError(f"{path}: column '{ID_COLUMN}' has {int(blank.sum())} blank cell(s); give every row an "
                        "id or drop the column")
    repeated = text.duplicated()
    if repeated.any():
        raise DataError(f"{path}: id '{quote_value(text[repeated].iloc[0])}' occurs more than once "
                        f"({int(repeated.sum())} repeat(s)); ids must name one test row each")
    return text.to_numpy()


def load_predictions(path: Path, score_cols: list[str]) -> dict[str, np.ndarray]:
    """The id columns as int32 and the score columns as float64, nothing else, each one array
    filled chunk by chunk (no second copy); a value that is not a whole number (ids) or a number
    (scores) is a one-line error naming its column and row."""
    dtypes = {**{c: ID_DTYPE for c in REQUIRED}, **{c: SCORE_DTYPE for c in score_cols}}
    capacity = _newlines(path)  # ≥ the data rows; pages never filled cost no memory
    arrays = {c: np.empty(capacity, dtype=t) for c, t in dtypes.items()}
    n = 0
    try:
        for chunk in pd.read_csv(path, usecols=list(dtypes), dtype=dtypes, chunksize=CHUNK_ROWS):  # type: ignore
            m = len(chunk)
            if n + m > capacity:  # lines that end in a bare '\r': grow
                capacity = 2 * (n + m)
                arrays = {c: _grown(a, n, capacity) for c, a in arrays.items()}
            for c, a in arrays.items():
                a[n:n + m] = chunk[c].to_numpy()
            n += m
    except (ValueError, OverflowError) as exc:
        raise DataError(_first_bad_value(path, score_cols)
                        or f"cannot read {path} as CSV ({type(exc).__name__}); label, pred and group must hold "
                        "integers and score_<k> numbers") from None  # pandas' text may quote a cell
    return {c: a[:n] for c, a in arrays.items()}


def _newlines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))


def _grown(array: np.ndarray, used: int, capacity: int) -> np.ndarray:
    out = np.empty(capacity, dtype=array.dtype)
    out[:used] = array[:used]
    return out


def _first_bad_value(path: Path, score_cols: list[str]) -> str | None:
    """Which column and data row hold the value that stopped the typed read (read in chunks, as text)."""
    low, high = np.iinfo(ID_DTYPE).min, np.iinfo(ID_DTYPE).max
    for start, chunk in _chunks(path, list(REQUIRED) + score_cols):
        for col in chunk.columns:
            for row, value in enumerate(chunk[col].tolist(), start + 1):
                number = _number(value)
                shown = f"'{quote_value(value)}'" if isinstance(value, str) else "blank"
                if col in REQUIRED and (number is None or not (number.is_integer() and low <= number <= high)):
                    return f"column '{col}' in {path} must hold integers with no blanks (data row {row}: {shown})"
                if col not in REQUIRED and number is None and isinstance(value, str):
                    return f"score columns in {path} must hold numbers (column '{col}', data row {row}: {shown})"
    return None


def _chunks(path: Path, columns: list[str]) -> Any:
    """(first data row index, chunk) of ``columns`` as text; pandas' NA markers become NaN."""
    start = 0
    for chunk in pd.read_csv(path, usecols=columns, dtype=str, chunksize=CHUNK_ROWS):
        yield start, chunk
        start += len(chunk)


def _number(value: Any) -> float | None:
    """``value`` (text, or NaN for a blank) as a float, or None where it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
