"""Loading and checking datasets by name: the registry (``catalog.py``) says where each comes from."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import PATH_LIMIT, DataError, DataWarning, UserError, quote_value, quoted_listing
from . import real
from .catalog import DATASETS, DatasetInfo
from .skips import SKIP_LABELS
from .groups import DEFAULT_MIN_GROUP_SIZE, FITZPATRICK
from .skin_tone import DEFAULT_ITA_THRESHOLD, groups_from_pixels, ita, ita_summary
from .skin_tone import pixel_groups as pixel_reading
from .splits import Splits, make_splits


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise UserError(f"unknown dataset '{name}'; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def resolve_root(name: str, root: str | Path | None) -> Path:
    """The dataset root from the argument or its environment variable, with a fix if neither."""
    info = DATASETS[name]
    root = root or os.environ.get(info.root_env or "") or os.environ.get("FAIRXBAR_DATA_ROOT")
    if not root:
        raise DataError(
            f"{name} needs a data root: pass --data-root PATH or set {info.root_env}; {info.how_to_get}"
        )
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{name}: data root {root} is not a directory")
    return root


def load(
    name: str,
    seed: int = 0,
    size: int = 32,
    root: str | Path | None = None,
    balance: bool = True,
    progress: bool = False,
    group_from: str | None = None,
    ita_threshold: float | None = None,
    groups: str | None = None,
    ita_bands: list[float] | None = None,
    min_group_size: int | None = None,
    **params: Any,
) -> Splits:
    """Load a dataset as seeded, stratified 60/20/20 splits of (image, label, group).

    ``size`` is the image side in pixels. synthderm takes ``n``, ``num_classes``,
    ``light_fraction`` and ``difficulty``; fitzpatrick17k takes ``num_labels`` (114/9/3).
    Group 0 is the unprivileged group by the dataset's default coding (dark skin, female);
    studies may swap it (``unprivileged: auto``). ``group_from="ita"`` groups the images by skin
    tone from their pixels instead (light: ITA > ``ita_threshold``, default 28°, is group 1).
    ``groups="all"`` keeps every group value beside the two groups (a table's values or their
    intersections, synthderm's Fitzpatrick types, the ITA bands), each with ``min_group_size``
    test images (default 30).
    """
    check_size(size)
    info = dataset_info(name)
    pixel_groups = group_from is not None or ita_threshold is not None
    every = groups == "all"
    if info.synthetic:
        extra = {"group_from": group_from, "ita_threshold": ita_threshold} if pixel_groups else {}
        reading = {"groups": groups, "ita_bands": ita_bands, "min_group_size": min_group_size} if every else {}
        return info.loader()(size=size, seed=seed, balance=balance, **extra, **reading, **params)
    table = _table(info, root, pixel_groups, params)
    if every and not pixel_groups and table.values is None:
        labelled_types(table, name)
    images, labels, binary, corrupt, values = real.decode_cached(name, table, size, progress=progress)
    if pixel_groups:  # a user table's group values are not read: the ITA bands are the values
        binary, table.group_names, values, bands = pixel_reading(images, group_from, ita_threshold, every, ita_bands)
        table.value_names = bands or []
    skipped = {**table.skipped, "corrupt_image": len(corrupt)}
    if any(skipped.values()):
        warnings.warn(f"{name}: {sum(skipped.values())} row(s) skipped ({skipped_text(skipped)}); "
                      f"`fairxbar-aihw data check --dataset {name}` lists them", DataWarning, stacklevel=2)
    return make_splits(
        images, labels, binary, seed, balance, values=values, value_names=table.value_names,
        min_group_size=(min_group_size or DEFAULT_MIN_GROUP_SIZE) if every else None,
        num_classes=len(table.class_names), class_names=table.class_names,
        group_names=table.group_names, synthetic=False, name=name,
        info={"missing_images": len(table.missing), "corrupt_images": len(corrupt), "dropped_rows": table.dropped,
              "skipped": skip_counts(table, corrupt), **params},
    )


def labelled_types(table: real.Table, name: str) -> None:
    """``dataset.groups: all`` on a dataset whose rows carry a labelled Fitzpatrick type
    (Fitzpatrick-17k): the types found become the group values; an error for one without."""
    if table.skin_types is None:
        raise DataError(f"dataset {name} has no group values beyond its two groups; dataset.groups: all needs a "
                        "group column (csv, folder), labelled skin types (fitzpatrick17k) or group_from: ita "
                        "(the ITA bands)")
    present = np.unique(table.skin_types)
    table.values = np.searchsorted(present, table.skin_types).astype(np.int64)
    table.value_names = [FITZPATRICK[t - 1] for t in present.tolist()]


def _table(info: DatasetInfo, root: str | Path | None, pixel_groups: bool, params: dict[str, Any]) -> real.Table:
    """The dataset's table; when its groups come from the pixels, a user table reads no group column."""
    if pixel_groups and info.groups_optional:
        params = {**params, "group_column": None}
    return info.loader()(resolve_root(info.name, root), **params)


def skipped_text(skipped: dict[str, int]) -> str:
    """``{"blank_group_cell": 40}`` as "40 blank group cell" (reasons with a count only)."""
    return ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in skipped.items() if n)


def check_size(size: Any) -> None:
    """Image side in pixels: an integer in 8..512."""
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 512:
        raise UserError(f"image size must be an integer from 8 to 512 pixels, got {size!r}")


def check(name: str, root: str | Path | None, size: int = 32, decode: bool = True, group_from: str | None = None,
          ita_threshold: float | None = None, **params: Any) -> dict[str, Any]:
    """Validate a dataset root: counts per class × group, every non-fatal problem found, and (when
    the images are decoded) the skin tone (ITA) per group and per labelled Fitzpatrick type."""
    check_size(size)
    info = dataset_info(name)
    threshold = DEFAULT_ITA_THRESHOLD if ita_threshold is None else ita_threshold
    pixel_groups = group_from is not None or ita_threshold is not None
    if info.synthetic:
        splits = load(name, size=size, group_from=group_from, ita_threshold=ita_threshold, **params)
        parts = (splits.train, splits.val, splits.test)
        labels = np.concatenate([s.labels.numpy() for s in parts])
        groups = np.concatenate([s.groups.numpy() for s in parts])
        types = None if splits.skin_types is None else np.concatenate(splits.skin_types)
        return {"dataset": name, "rows": len(labels), "usable": len(labels), "problems": [],
                "class_names": splits.class_names, "group_names": splits.group_names,
                "counts": np.bincount(labels * 2 + groups, minlength=2 * splits.num_classes)
                .reshape(-1, 2).tolist(), "synthetic": True,
                "ita": ita_summary(ita(torch.cat([s.images for s in parts])), groups, splits.group_names, types,
                                   threshold)}
    if pixel_groups and not decode:
        raise DataError(f"{name}: groups from skin tone (group_from: ita) are read from the images; drop "
                        "--no-decode")
    table = _table(info, root, pixel_groups, params)
    problems = []
    if table.missing:
        problems.append(f"{len(table.missing)} image(s) listed in the CSV are missing or unreadable "
                        f"(first: {quoted_listing(table.missing, 3)}); they are skipped")
    for why, count in table.dropped.items():
        if count:
            problems.append(f"{count} row(s) dropped: {why.replace('_', ' ')}")
    labels, groups, tone, corrupt = table.labels, table.groups, None, None
    if decode:
        images, labels, groups, corrupt, _ = real.decode_cached(name, table, size, progress=True)
        problems += [f"{SKIP_LABELS[kind]}, skipped: {quote_value(p, PATH_LIMIT)}" for p, kind in corrupt.items()]
        if pixel_groups:
            groups, table.group_names = groups_from_pixels(images, group_from, ita_threshold)
        decoded = {str(p) for p in table.paths} - set(corrupt)
        types = None if table.skin_types is None else table.skin_types[[str(p) in decoded for p in table.paths]]
        tone = ita_summary(ita(images), groups, table.group_names, types, threshold)
    k = len(table.class_names)
    counts = np.bincount(labels * 2 + groups, minlength=2 * k).reshape(-1, 2)
    problems += empty_cells(counts, table.class_names, table.group_names)
    value_counts = {} if table.values is None else {
        v: int((table.values == i).sum()) for i, v in enumerate(table.value_names)}
    return {"dataset": name, "rows": len(table.paths) + sum(table.skipped.values()), "usable": int(len(labels)),
            "problems": problems, "class_names": table.class_names, "group_names": table.group_names,
            "counts": counts.tolist(), "synthetic": False, "value_counts": value_counts, "ita": tone,
            "skipped": skip_counts(table, corrupt)}


def skip_counts(table: real.Table, corrupt: dict[str, str] | None) -> dict[str, int]:
    """Every image or row the loader left out, by kind: listed images not found, images that
    failed to decode by ``skip_kind`` (left out when not decoded: ``corrupt`` None), and the
    loader's dropped rows (by reason, e.g. ``blank_group_cell``)."""
    counts = {"missing_image": len(table.missing)}
    if corrupt is not None:
        kinds = [kind for kind in SKIP_LABELS if kind != "missing_image"]
        counts.update({kind: sum(k == kind for k in corrupt.values()) for kind in kinds})
    return {**counts, **{why: int(n) for why, n in table.dropped.items()}}


def empty_cells(counts: np.ndarray, class_names: list[str], group_names: dict[int, str]) -> list[str]:
    """Warnings for an empty group, and for classes absent from one group (their rates are undefined)."""
    out = [f"group {c} ({group_names[c]}) has no usable images: fairness cannot be measured"
           for c in (0, 1) if counts[:, c].sum() == 0]
    for name, row in zip(class_names, counts):
        empty = [group_names[c] for c in (0, 1) if row[c] == 0]
        if len(empty) == 2:
            out.append(f"class {name} has no usable images")
        elif empty and counts[:, 0].sum() and counts[:, 1].sum():
            out.append(f"class {name} has no images in group {empty[0]}: its rate gaps are undefined there")
    return out


