"""Read a predictions CSV (label, pred, group, optional id and score_<class>) for `fairxbar-aihw metrics`.

Groups: the ``group`` column holds integer codes 0..G-1 (two groups: 0 = unprivileged, 1 =
privileged); or ``group_columns`` name columns read as text with any values (``1``..``6``, ``F``/``M``,
``light``), several giving their intersections ("F × 3"), coded 0..G-1 in sorted value order
(numbers by value) with their names kept for the report.

Why explicit dtypes and only the needed columns: pandas' default reading keeps every column and
infers 8-byte types, and a file of short rows ("3,1,0") then needs about ten times its size in
memory; ids read as int32 and other columns skipped keep memory near the data's own size.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError, clipped, header_listing, quote_value, quoted_listing
from .core import MAX_GROUPS, compute

REQUIRED = ("label", "pred", "group")
ID_DTYPE = np.int32  # class and group ids: 4 bytes a row each
SCORE_DTYPE = np.float64  # scores keep full precision: AUC depends on their ties and order
CHUNK_ROWS = 100_000  # rows per chunk when a bad value is searched for
ID_COLUMN = "id"  # optional: rows of two files are matched by it (``metrics --reference``)
MIN_GROUP_SIZE = 30  # rows: below it a group's per-class rates are mostly noise (a 1/30 step per error)
INTERSECTION = " × "  # joins the values of several group columns into one group's name


@dataclass
class Predictions:
    """One model's predictions on a test set, validated: one entry per row of the file."""

    path: str
    labels: np.ndarray
    preds: np.ndarray
    groups: np.ndarray
    scores: np.ndarray | None  # (n, K) when the file has score_0..score_{K-1}
    ids: np.ndarray | None  # the id column as text, when the file has one
    group_names: list[str] | None = None  # one per group code, when groups came from group_columns

    @property
    def num_classes(self) -> int | None:
        return None if self.scores is None else int(self.scores.shape[1])


def metrics_from_csv(path: str | Path, group_columns: Sequence[str] | None = None,
                     min_group_size: int = MIN_GROUP_SIZE) -> dict[str, Any]:
    """Audit any model from its predictions file; errors name the missing column or bad value.

    ``group_columns``: group by these columns' values (module docstring) instead of ``group``.
    ``min_group_size`` applies when ``group_columns`` are given or there are more than two groups
    (a two-group file of codes is audited as always).
    """
    p = read_predictions(path, group_columns)
    if group_columns or int(p.groups.max()) > 1:
        check_group_sizes(p, min_group_size)
    return compute(p.labels, p.preds, p.groups, scores=p.scores, num_classes=p.num_classes,
                   group_names=p.group_names)


def check_group_sizes(p: Predictions, min_group_size: int) -> None:
    """A one-line error naming the smallest group when it has fewer than ``min_group_size`` rows
    (why: its per-class rates would be noise that the worst-pair and range gaps pick up first)."""
    counts = np.bincount(p.groups[p.groups >= 0]) if len(p.groups) else np.zeros(0, dtype=np.int64)
    present = np.flatnonzero(counts)  # a code with no rows is compute's error, named there
    if not present.size:
        return
    small = int(present[np.argmin(counts[present])])
    if counts[small] < min_group_size:
        name = f"'{quote_value(p.group_names[small])}'" if p.group_names is not None else str(small)
        raise DataError(f"{p.path}: group {name} has only {counts[small]} row(s), fewer than --min-group-size "
                        f"{min_group_size}; merge its values with another group's, add rows, or lower "
                        "--min-group-size")


def read_predictions(source: str | Path | pd.DataFrame, group_columns: Sequence[str] | None = None) -> Predictions:
    """A predictions CSV (read compactly, see the module's docstring) or a DataFrame with its
    columns, as validated arrays; errors name the missing column or the bad value.
    ``group_columns``: the groups are these columns' values (module docstring), not ``group``."""
    group_columns = _checked_group_columns(group_columns)
    if isinstance(source, pd.DataFrame):
        return _from_frame(source, "the predictions table", group_columns)
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
    _check_columns(columns, str(path), group_columns)
    score_cols = _score_columns(columns)
    ints = _int_columns(group_columns)
    data = load_predictions(path, score_cols, ints)
    if not len(data["label"]):
        raise DataError(f"{path} has a header but no rows; it needs one row per prediction")
    scores = _checked_scores(np.stack([data.pop(c) for c in score_cols], axis=1), str(path)) if score_cols else None
    ids = None
    if ID_COLUMN in columns:
        ids = _ids(pd.read_csv(path, usecols=[ID_COLUMN], dtype=str, keep_default_na=False)[ID_COLUMN], str(path))
    if group_columns is None:
        return Predictions(str(path), data["label"], data["pred"], data["group"], scores, ids)
    text = pd.read_csv(path, usecols=group_columns, dtype=str, keep_default_na=False)
    codes, names = group_codes(text, group_columns, str(path))
    return Predictions(str(path), data["label"], data["pred"], codes, scores, ids, names)


def _checked_group_columns(group_columns: Sequence[str] | None) -> list[str] | None:
    if group_columns is None:
        return None
    if isinstance(group_columns, str):
        group_columns = [group_columns]
    cols = [str(c).strip() for c in group_columns]
    if not cols or any(not c for c in cols) or len(set(cols)) != len(cols):
        raise DataError(f"--groups needs distinct column names separated by commas, got '{quote_value(','.join(cols))}'")
    return cols


def _int_columns(group_columns: list[str] | None) -> tuple[str, ...]:
    """The columns read as integer ids: label, pred and, without ``group_columns``, group."""
    return REQUIRED if group_columns is None else tuple(c for c in REQUIRED if c != "group")


def _sorted_values(values: np.ndarray) -> np.ndarray:
    """Distinct group values in sorted order: by number when every value is one (2 before 10)."""
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(numbers).any():
        return np.sort(values)
    return values[np.lexsort((values, numbers))]


def group_codes(frame: pd.DataFrame, group_columns: Sequence[str], path: str) -> tuple[np.ndarray, list[str]]:
    """Codes 0..G-1 of each row's combination of ``group_columns`` values (read as text), in sorted
    order of the combinations, and each group's name (the values joined by ``INTERSECTION``)."""
    codes = np.zeros(len(frame), dtype=np.int64)
    names = [""]
    for col in group_columns:
        text = frame[col].astype(str).str.strip().where(frame[col].notna(), "").to_numpy()
        blank = np.flatnonzero(text == "")
        if blank.size:
            raise DataError(f"{path}: group column '{quote_value(col)}' has {blank.size} blank cell(s) (first: data "
                            f"row {blank[0] + 1}); give every row a value or drop those rows")
        values, inverse = np.unique(text, return_inverse=True)
        ordered = _sorted_values(values)
        rank = np.empty(len(values), dtype=np.int64)
        rank[np.searchsorted(values, ordered)] = np.arange(len(values))
        combos, codes = np.unique(codes * len(values) + rank[inverse.ravel()], return_inverse=True)
        codes = codes.ravel()
        names = [(names[c // len(values)] + INTERSECTION if names[c // len(values)] else "")
                 + str(ordered[c % len(values)]) for c in combos]
        if len(names) > MAX_GROUPS:
            raise DataError(f"{path}: --groups {','.join(group_columns)} gives {len(names)} or more groups, more than "
                            f"the {MAX_GROUPS} supported; group by fewer columns or merge values")
    return codes.astype(ID_DTYPE), names


def _from_frame(df: pd.DataFrame, path: str, group_columns: list[str] | None = None) -> Predictions:
    columns = [str(c) for c in df.columns]
    _check_columns(columns, path, group_columns)
    if df.empty:
        raise DataError(f"{path} has a header but no rows; it needs one row per prediction")
    ints = _int_columns(group_columns)
    for col in ints:
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
    if group_columns is None:
        return Predictions(path, *(df[c].to_numpy(ID_DTYPE) for c in REQUIRED), scores, ids)
    codes, names = group_codes(df, group_columns, path)
    return Predictions(path, df["label"].to_numpy(ID_DTYPE), df["pred"].to_numpy(ID_DTYPE), codes, scores, ids, names)


def _check_columns(columns: list[str], path: str, group_columns: list[str] | None = None) -> None:
    wanted = REQUIRED if group_columns is None else (*_int_columns(group_columns), *group_columns)
    missing = [quote_value(c) for c in wanted if c not in columns]
    if missing:
        found = header_listing(columns)
        need = "label, pred, group" if group_columns is None else "label, pred, the --groups column(s)"
        raise DataError(
            f"{path} lacks column(s) {', '.join(missing)}; "
            + (f"found {found} " if found else "its first line is not a header of column names ")
            + f"(need {need} and optionally id and score_<class>)"
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


def load_predictions(path: Path, score_cols: list[str], ints: Sequence[str] = REQUIRED) -> dict[str, np.ndarray]:
    """The id columns as int32 and the score columns as float64, nothing else, each one array
    filled chunk by chunk (no second copy); a value that is not a whole number (ids) or a number
    (scores) is a one-line error naming its column and row."""
    dtypes = {**{c: ID_DTYPE for c in ints}, **{c: SCORE_DTYPE for c in score_cols}}
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
        raise DataError(_first_bad_value(path, score_cols, ints)
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


def _first_bad_value(path: Path, score_cols: list[str], ints: Sequence[str] = REQUIRED) -> str | None:
    """Which column and data row hold the value that stopped the typed read (read in chunks, as text)."""
    low, high = np.iinfo(ID_DTYPE).min, np.iinfo(ID_DTYPE).max
    for start, chunk in _chunks(path, list(ints) + score_cols):
        for col in chunk.columns:
            for row, value in enumerate(chunk[col].tolist(), start + 1):
                number = _number(value)
                shown = f"'{quote_value(value)}'" if isinstance(value, str) else "blank"
                if col in ints and (number is None or not (number.is_integer() and low <= number <= high)):
                    hint = "; for group values other than codes 0..G-1 use --groups group" if col == "group" else ""
                    return (f"column '{col}' in {path} must hold integers with no blanks (data row {row}: {shown})"
                            + hint)
                if col not in ints and number is None and isinstance(value, str):
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
