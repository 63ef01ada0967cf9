"""Group values beyond light/dark: Fitzpatrick types, ITA bands, intersections of columns.

Why two codings side by side: the paper collapses skin types into two groups (light I–III =
group 1, privileged; dark IV–VI = group 0), and its saliency formula and claims are written for
that pair, so every split keeps the binary ``groups``. Auditors work per type and across
attributes (dermequity's Fitzpatrick I–VI, fairlearn's intersections), so a dataset may also
carry each image's group *value* (``TensorSplit.values``, names in ``Splits.info["group_values"]``);
a study with ``dataset.groups: all`` judges its claims on those k values (the worst-pair gap).
The binary reading of k values is a privileged *set* (``dataset.privileged: [I, II, III]``).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError, quoted_listing

FITZPATRICK = ("I", "II", "III", "IV", "V", "VI")
LIGHT_TYPES = ("I", "II", "III")  # the paper's privileged group (light skin)
INTERSECTION = " × "  # joins the values of several group columns into one value name
DEFAULT_MIN_GROUP_SIZE = 30  # test images per group value below which a per-group rate is mostly noise
GROUP_READINGS = ("two", "all")


def privileged_set(value: str | Sequence[str] | None) -> list[str]:
    """``dataset.privileged`` / ``--privileged`` as a list of values: a list as given, a text split at
    commas (``"I,II,III"``); stripped, without blanks."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [v.strip() for v in items if v.strip()]


def intersect(columns: Iterable[pd.Series]) -> pd.Series:
    """One value per row from several group columns (``"light × F"``); missing when any part is."""
    parts = list(columns)
    out = parts[0].copy()
    for part in parts[1:]:
        both = out.notna() & part.notna()
        out = (out.astype(str) + INTERSECTION + part.astype(str)).where(both, None)
    return out


def check_group_sizes(test_values: np.ndarray, names: Sequence[str], minimum: int, where: str) -> None:
    """Every group value needs ``minimum`` test images: below that its rates (and every gap built
    from them) are mostly sampling noise. The error names the smallest value and the three fixes."""
    counts = np.bincount(np.asarray(test_values, dtype=np.int64), minlength=len(names))
    small = np.flatnonzero(counts < minimum)
    if len(small):
        worst = int(small[np.argmin(counts[small])])
        raise DataError(f"{where}: group value '{names[worst]}' has {counts[worst]} test image(s), fewer than the "
                        f"minimum group size {minimum}" + (f" ({len(small)} values are below it: "
                                                     f"{quoted_listing([names[i] for i in small], 6)})"
                                                     if len(small) > 1 else "")
                        + "; merge it into a neighbouring value, add images, or lower dataset.min_group_size "
                        "(--min-group-size)")


def binary_from_values(values: np.ndarray, names: Sequence[str], privileged: Sequence[str], where: str
                       ) -> tuple[np.ndarray, dict[int, str]]:
    """The paper's two groups from k values: 1 = a value in the ``privileged`` set, 0 = the rest; an
    error when the set names an absent value or covers every value."""
    unknown = [p for p in privileged if p not in names]
    if unknown:
        raise DataError(f"{where}: privileged value(s) {quoted_listing(unknown, 5)} do not occur; the values are "
                        f"{quoted_listing(list(names), 12)}")
    ids = [i for i, n in enumerate(names) if n in privileged]
    rest = [n for n in names if n not in privileged]
    if not ids or not rest:
        raise DataError(f"{where}: the privileged set {quoted_listing(list(privileged), 6)} must leave at least one "
                        "value unprivileged: fairness needs a second group")
    groups = np.isin(values, ids).astype(np.int64)
    return groups, {0: _joined(rest, "other values"), 1: _joined([names[i] for i in ids], "privileged values")}


def _joined(names: list[str], many: str) -> str:
    return " + ".join(names) if len(names) <= 3 else f"{len(names)} {many}"
