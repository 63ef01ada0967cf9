"""Loading and checking datasets by name: the registry (``names.py``) says where each comes from."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, UserError
from . import real
from .names import DATASETS, DatasetInfo
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
    **params: Any,
) -> Splits:
    """Load a dataset as seeded, stratified 60/20/20 splits of (image, label, group).

    ``size`` is the image side in pixels. synthderm takes ``n``, ``num_classes``,
    ``light_fraction`` and ``difficulty``; fitzpatrick17k takes ``num_labels`` (114/9/3).
    Group 0 is the unprivileged group by the dataset's default coding (dark skin, female);
    studies may swap it (``unprivileged: auto``).
    """
    check_size(size)
    info = dataset_info(name)
    if info.synthetic:
        return info.loader()(size=size, seed=seed, balance=balance, **params)
    table = info.loader()(resolve_root(name, root), **params)
    images, labels, groups, corrupt, values = real.decode_cached(name, table, size, progress=progress)
    return make_splits(
        images, labels, groups, seed, balance, values=values, value_names=table.value_names,
        num_classes=len(table.class_names), class_names=table.class_names,
        group_names=table.group_names, synthetic=False, name=name,
        info={"missing_images": len(table.missing), "corrupt_images": len(corrupt), "dropped_rows": table.dropped,
              "skipped": skip_counts(table, corrupt), **params},
    )


def check_size(size: Any) -> None:
    """Image side in pixels: an integer in 8..512."""
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 512:
        raise UserError(f"image size must be an integer from 8 to 512 pixels, got {size!r}")


def check(name: str, root: str | Path | None, size: int = 32, decode: bool = True, **params: Any
          ) -> dict[str, Any]:
    """Validate a dataset root: counts per class × group and every non-fatal problem found."""
    check_size(size)
    info = dataset_info(name)
    if info.synthetic:
        splits = load(name, size=size, **params)
        parts = (splits.train, splits.val, splits.test)
        labels = np.concatenate([s.labels.numpy() for s in parts])
        groups = np.concatenate([s.groups.numpy() for s in parts])
        return {"dataset": name, "rows": len(labels), "usable": len(labels), "problems": [],
                "class_names": splits.class_names, "group_names": splits.group_names,
                "counts": np.bincount(labels * 2 + groups, minlength=2 * splits.num_classes)
                .reshape(-1, 2).tolist(), "synthetic": True}
    table = info.loader()(resolve_root(name, root), **params)
    problems = []
    if table.missing:
        problems.append(f"{len(table.missing)} image(s) listed in the CSV are missing or unreadable "
                        f"(first: {', '.join(table.missing[:3])}); they are skipped")
    for why, count in table.dropped.items():
        if count:
            problems.append(f"{count} row(s) dropped: {why.replace('_', ' ')}")
    labels, groups, corrupt = table.labels, table.groups, None
    if decode:
        _, labels, groups, corrupt, _ = real.decode_cached(name, table, size, progress=True)
        problems += [f"{SKIP_LABELS[kind]}, skipped: {p}" for p, kind in corrupt.items()]
    k = len(table.class_names)
    counts = np.bincount(labels * 2 + groups, minlength=2 * k).reshape(-1, 2)
    problems += empty_cells(counts, table.class_names, table.group_names)
    value_counts = {} if table.values is None else {
        v: int((table.values == i).sum()) for i, v in enumerate(table.value_names)}
    return {"dataset": name, "rows": len(table.paths) + len(table.missing), "usable": int(len(labels)),
            "problems": problems, "class_names": table.class_names, "group_names": table.group_names,
            "counts": counts.tolist(), "synthetic": False, "value_counts": value_counts,
            "skipped": skip_counts(table, corrupt)}


# What a skipped image is, by ``real.skip_kind`` (and a listed image that is not there).
SKIP_LABELS = {"missing_image": "listed image not found", "corrupt": "corrupt or unreadable image",
               "truncated": "truncated or damaged image", "decompression_bomb": "decompression bomb (too many pixels)"}


def skip_counts(table: real.Table, corrupt: dict[str, str] | None) -> dict[str, int]:
    """Every image or row the loader left out, by kind: listed images not found, images that
    failed to decode by ``skip_kind`` (left out when not decoded: ``corrupt`` None), and the
    loader's dropped rows (``row: WHY``, e.g. a blank image, label or group cell)."""
    counts = {"missing_image": len(table.missing)}
    if corrupt is not None:
        kinds = [kind for kind in SKIP_LABELS if kind != "missing_image"]
        counts.update({kind: sum(k == kind for k in corrupt.values()) for kind in kinds})
    return {**counts, **{f"row: {why}": int(n) for why, n in table.dropped.items()}}


def describe_skips(counts: dict[str, int]) -> str:
    """Skip counts as one line: "skipped: 0 × listed image not found, 1 × corrupt or unreadable image, ..."."""
    def label(kind: str) -> str:
        return SKIP_LABELS.get(kind) or "row dropped (" + kind.removeprefix("row: ").replace("_", " ") + ")"
    return "skipped: " + ", ".join(f"{n} × {label(k)}" for k, n in counts.items())


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


