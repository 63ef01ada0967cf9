"""Your own labelled images: a CSV of (image, label, group) rows, or a folder per label.

Why two layouts: exported datasets usually come as one table, while many image collections are
sorted into a folder per class with the sensitive attribute kept apart. Both become the same
``Table`` the built-in datasets use, so splits, balancing, the decode cache and ``data check``
work unchanged. Group values are read as text; the ``privileged`` value becomes group 1 and every
other value group 0, and each value keeps its own id so reports can show every value.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import OS_FIXES, QUOTE_LIMIT, DataError, quote_value, quoted_listing
from .groups import INTERSECTION, binary_from_values, intersect, privileged_set
from .real import Table, _read_csv

CSV_DEFAULTS = {"file": "labels.csv", "image_column": "image", "label_column": "label", "group_column": "group"}
FOLDER_DEFAULTS = {"groups_file": "groups.csv", "image_column": "image", "group_column": "group"}
COLUMN_FIX = "; or name your columns with the --*-column options (dataset.*_column)"
MAX_LISTED_VALUES = 20  # a group column with more distinct values is counted in an error, not listed


def confined(root: Path, rel: str, dataset: str, what: str) -> Path:
    """``root/rel`` resolved; a path leading outside the root (``..``, absolute, a link) is an error,
    so nothing a study file or CSV names can make the tool read elsewhere."""
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise DataError(f"{dataset}: {what} '{quote_value(rel)}' leads outside the data root {root}; give paths "
                        "relative to the root")
    return path


def _own_columns(dataset: str, **columns: str | None) -> None:
    """Each role (image, label, group) names a column of its own: one column in several roles is
    refused before any cell is read (a one-column file such as a key would otherwise have its
    lines shown as group values)."""
    given = [(role, column) for role, column in columns.items() if column is not None]
    for i, (role, column) in enumerate(given):
        twin = next((other for other, c in given[:i] if c == column), None)
        if twin is not None:
            raise DataError(f"{dataset}: the {twin} and {role} columns are both '{quote_value(column)}'; each must "
                            f"be a column of its own (--{twin}-column, --{role}-column)")


def _image_path(root: Path, rel: str, row: int, dataset: str) -> Path:
    """Data row ``row``'s image, confined to the root; a NUL byte is an error naming the row."""
    if "\x00" in rel:
        raise DataError(f"{dataset}: data row {row}: the image path holds a NUL byte; fix that row")
    return confined(root, rel, dataset, "image path")


def _is_file(path: Path, rel: str, row: int, dataset: str) -> bool:
    """Whether data row ``row``'s image exists; a path the system cannot look up (a name too long)
    is an error naming the row and the fix."""
    try:
        return path.is_file()
    except OSError as exc:
        raise DataError(f"{dataset}: data row {row}: cannot look up image path '{quote_value(rel)}' "
                        f"({exc.strerror}); {OS_FIXES.get(exc.errno or 0, 'fix that row')}") from None


def _found_values(names: list[str], rows: int) -> str:
    """What a group column holds, for an error: its values when they look like group values (a
    few short printable values that repeat), else only their count, so a column of unique values
    (image names, a file's lines) is never shown."""
    if len(names) <= MAX_LISTED_VALUES and len(names) < rows and all(
            n.isprintable() and len(n) <= QUOTE_LIMIT for n in names):
        return quoted_listing(names, 10)
    return f"{len(names)} distinct values in {rows} rows, not shown: they do not look like group values"


def _cells(values: pd.Series) -> pd.Series:
    """Text cells stripped; empty or whitespace-only cells become missing (never a value "")."""
    return values.map(lambda v: None if pd.isna(v) else (str(v).strip() or None))


def _one_row_per_image(paths: pd.Series, images: pd.Series, labels: pd.Series, groups: pd.Series,
                       dataset: str) -> pd.Series:
    """Mask of the rows to keep: the first row of each image. An image listed with different labels
    or groups is an error; exact repeats are dropped (a repeat could land in train and test)."""
    frame = pd.DataFrame({"path": paths.to_numpy(), "label": labels.to_numpy(), "group": groups.to_numpy()})
    repeats = frame["path"].duplicated(keep="first")
    if repeats.any():
        differ = frame.groupby("path", sort=False)[["label", "group"]].nunique()
        differ = differ[(differ > 1).any(axis=1)]
        if len(differ):
            first = images.to_numpy()[frame["path"].to_numpy() == differ.index[0]][0]
            raise DataError(f"{dataset}: image '{quote_value(first)}' is listed with different labels or groups "
                            f"({len(differ)} image(s) like it); keep one row per image")
    return pd.Series(~repeats.to_numpy(), index=paths.index)


def _groups(values: pd.Series, privileged: object, dataset: str, column: str
            ) -> tuple[np.ndarray, np.ndarray, list[str], dict[int, str]]:
    """Binary groups (a value in the privileged set → 1) plus each row's value id and the value names."""
    text = values.astype(str).str.strip()
    names = sorted(text.unique().tolist())
    priv = privileged_set(privileged)  # type: ignore[arg-type]
    if not priv:
        raise DataError(f"{dataset}: say which value of '{quote_value(column)}' is privileged (dataset.privileged); "
                        f"found {_found_values(names, len(text))}")
    absent = [p for p in priv if p not in names]
    if absent:
        raise DataError(f"{dataset}: privileged value '{quote_value(absent[0])}' does not occur in column "
                        f"'{quote_value(column)}'; found {_found_values(names, len(text))}")
    if len(names) < 2 or set(priv) >= set(names):
        raise DataError(f"{dataset}: column '{quote_value(column)}' has only the privileged value(s) "
                        f"{quoted_listing(priv, 5)}; fairness needs a second group")
    value_ids = text.map({v: i for i, v in enumerate(names)}).to_numpy(np.int64)
    groups, group_names = binary_from_values(value_ids, names, priv, dataset)
    return groups, value_ids, names, group_names


def _classes(labels: pd.Series, classes: list[str] | None, dataset: str) -> list[str]:
    """The class order: the model's output order when given (``classes``), else sorted labels."""
    found = sorted(labels.unique().tolist())
    if classes is None:
        return found
    classes = [str(c).strip() for c in classes]
    twice = sorted({c for c in classes if classes.count(c) > 1})
    if twice:
        raise DataError(f"{dataset}: dataset.classes (--classes) names {quoted_listing(twice, 5)} more than once; list "
                        "each label once, in the model's output order")
    unknown = [c for c in found if c not in classes]
    if unknown:
        raise DataError(f"{dataset}: label(s) {quoted_listing(unknown, 5)} are not in dataset.classes "
                        f"({quoted_listing(classes, 10)}); list every label in the model's output order")
    return classes


def _table(dataset: str, root: Path, images: pd.Series, labels: pd.Series, group_values: pd.Series,
           privileged: object, group_column: str | None, classes: list[str] | None) -> Table:
    """The validated Table; ``group_column=None``: no groups yet (all 0; ``group_values`` unused)."""
    images, labels, group_values = _cells(images), _cells(labels), _cells(group_values)
    dropped, gone = {}, pd.Series(False, index=images.index)
    for what, cells in (("image", images), ("label", labels), ("group", group_values)):
        dropped[f"blank_{what}_cell"] = int((cells.isna() & ~gone).sum())  # each row counted once
        gone |= cells.isna()
    images, labels, group_values = images[~gone], labels[~gone], group_values[~gone]
    if images.empty:
        raise DataError(f"{dataset}: no row has an image, a label and a group")
    # index i is data row i + 1 of the file (rows dropped above keep their numbers)
    resolved = pd.Series([_image_path(root, rel, int(i) + 1, dataset) for i, rel in zip(images.index, images)],
                         index=images.index, dtype=object)
    first = _one_row_per_image(resolved.map(str), images, labels, group_values, dataset)
    dropped["duplicate_image_row"] = int((~first).sum())
    images, labels, group_values, resolved = images[first], labels[first], group_values[first], resolved[first]
    value_ids: np.ndarray | None
    value_names: list[str]
    if group_column is None:  # groups come from the pixels after decoding (dataset.group_from: ita)
        groups, value_ids, value_names, group_names = np.zeros(len(images), np.int64), None, [], {0: "", 1: ""}
    else:
        groups, value_ids, value_names, group_names = _groups(group_values, privileged, dataset, group_column)
    class_names = _classes(labels, classes, dataset)
    label_ids = labels.map({c: i for i, c in enumerate(class_names)}).to_numpy(np.int64)
    paths = [p if _is_file(p, rel, int(i) + 1, dataset) else None for p, i, rel in zip(resolved, images.index, images)]
    missing = [str(p) for p, found in zip(images, paths) if found is None]
    ok = np.array([p is not None for p in paths], dtype=bool)
    if not ok.any():
        raise DataError(f"{dataset}: none of the {len(paths)} images listed were found under {root} (first: "
                        f"{quoted_listing(missing, 3)}); paths are relative to the data root")
    return Table(paths=[p for p in paths if p is not None], labels=label_ids[ok], groups=groups[ok],
                 class_names=class_names, group_names=group_names, missing=missing, dropped=dropped,
                 values=None if value_ids is None else value_ids[ok], value_names=value_names)


def group_columns(group_column: str | list[str] | None) -> list[str]:
    """``dataset.group_column`` as a list: one column, or several whose values intersect."""
    if group_column is None:
        return []
    return [group_column] if isinstance(group_column, str) else list(group_column)


def _group_values(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Each row's group value: the one column's cell, or the intersection of several (``light × F``)."""
    return intersect(_cells(df[c]) for c in columns)


def csv_table(root: Path, file: str = "labels.csv", image_column: str = "image", label_column: str = "label",
              group_column: str | list[str] | None = "group", privileged: object = None,
              classes: list[str] | None = None) -> Table:
    """A CSV under the root: one row per image (path relative to the root), its label and group.
    ``classes`` is the label order of the model's outputs (default: sorted labels);
    ``group_column=None``: the CSV has no groups (they come from the pixels); several columns: their
    intersections are the group values."""
    cols = group_columns(group_column)
    _own_columns("csv", image=image_column, label=label_column, **{f"group{i or ''}": c for i, c in enumerate(cols)})
    own = cols or [image_column]  # without groups, the image column stands in (never blank, never used)
    df = _read_csv(confined(root, file, "csv", "file"), "csv", [image_column, label_column, *own], dtype=str,
                   fix=COLUMN_FIX)
    return _table("csv", root, df[image_column], df[label_column], _group_values(df, own), privileged,
                  INTERSECTION.join(cols) or None, classes)


def folder_table(root: Path, groups_file: str = "groups.csv", image_column: str = "image",
                 group_column: str | list[str] | None = "group", privileged: object = None,
                 classes: list[str] | None = None) -> Table:
    """``root/<label>/<image>``; the groups CSV maps each image (path relative to the root, or its
    file name when names are unique) to its group. ``group_column=None``: no groups file, every
    image is used (groups come from the pixels)."""
    files = sorted(p for p in root.glob("*/*") if p.is_file() and p.parent.name != "." and p.name != groups_file)
    if not files:
        raise DataError(f"folder: no images in {root}/<label>/; put each image in a folder named after its label")
    rel = [str(p.relative_to(root)) for p in files]
    if group_column is None:
        paths = pd.Series(rel)
        return _table("folder", root, paths, paths.map(lambda r: Path(r).parent.name), paths, None, None, classes)
    cols = group_columns(group_column)
    _own_columns("folder", image=image_column, **{f"group{i or ''}": c for i, c in enumerate(cols)})
    df = _read_csv(confined(root, groups_file, "folder", "groups file"), "folder", [image_column, *cols],
                   dtype=str, fix=COLUMN_FIX)
    df = df.assign(**{image_column: _cells(df[image_column])}).dropna(subset=[image_column])
    listed, groups = df[image_column], _group_values(df, cols)
    _one_row_per_image(listed, listed, pd.Series("", index=listed.index), groups, "folder")
    by_rel = dict(zip(listed, groups))
    by_name = dict(zip(listed.map(lambda s: Path(s).name), groups))
    known = [r in by_rel or Path(r).name in by_name for r in rel]
    rel = [r for r, k in zip(rel, known) if k]
    if not rel:
        raise DataError(f"folder: none of the {len(files)} images under {root}/<label>/ is listed in {groups_file}; "
                        "list each image by its path relative to the root or its file name")
    group_values = pd.Series([by_rel[r] if r in by_rel else by_name[Path(r).name] for r in rel])
    table = _table("folder", root, pd.Series(rel), pd.Series([Path(r).parent.name for r in rel]), group_values,
                   privileged, INTERSECTION.join(cols), classes)
    table.dropped["not_in_groups_file"] = known.count(False)
    return table
