"""In-memory image datasets and the paper's split protocol (balanced groups, 60/20/20 stratified)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError, quoted_listing
from .groups import check_group_sizes

# Per-channel normalisation applied to every uint8 image (fixed, so caches stay dataset-agnostic).
MEAN = 0.5
STD = 0.25


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N,3,H,W) → normalised float32, the model's input convention."""
    return (images.float() / 255.0 - MEAN) / STD


class TensorSplit(Dataset):
    """One split held as uint8 tensors; items are (float image, label, group)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor,
                 values: torch.Tensor | None = None, value_names: list[str] | None = None):
        """``values``: each image's group value id, when the dataset has more than the two groups;
        ``value_names``: their names when the study reads every value (``dataset.groups: all``): chips
        then score the k groups beside the two."""
        assert images.dtype == torch.uint8 and images.ndim == 4
        self.images = images
        self.labels = labels.long()
        self.groups = groups.long()
        self.values = None if values is None else values.long()
        self.value_names = value_names if values is not None else None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        return to_float(self.images[i : i + 1])[0], int(self.labels[i]), int(self.groups[i])

    def subset(self, idx: np.ndarray | torch.Tensor) -> "TensorSplit":
        idx = torch.as_tensor(idx, dtype=torch.long)
        return TensorSplit(self.images[idx], self.labels[idx], self.groups[idx],
                           None if self.values is None else self.values[idx], self.value_names)

    def counts(self, num_classes: int) -> np.ndarray:
        """(num_classes, 2) sample counts per class × group."""
        flat = self.labels.numpy() * 2 + self.groups.numpy()
        return np.bincount(flat, minlength=num_classes * 2).reshape(num_classes, 2)


@dataclass
class Splits:
    """A dataset ready for the pipeline: train/val/test splits plus what reports need to say."""

    train: TensorSplit
    val: TensorSplit
    test: TensorSplit
    num_classes: int
    class_names: list[str]
    group_names: dict[int, str]
    synthetic: bool
    name: str
    info: dict[str, Any] = field(default_factory=dict)
    # each train, val and test image's labelled Fitzpatrick type (1-6), where the dataset has one
    skin_types: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def with_groups_swapped(self) -> "Splits":
        """A copy with groups 0 and 1 exchanged (the study's unprivileged group becomes group 0)."""
        flip = {k: TensorSplit(s.images, s.labels, 1 - s.groups, s.values, s.value_names) for k, s in
                (("train", self.train), ("val", self.val), ("test", self.test))}
        return replace(self, **flip, group_names={0: self.group_names[1], 1: self.group_names[0]})

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])

    def fingerprint(self) -> str:
        """Hash of the split contents (labels, groups, a pixel sample): keys caches and checkpoints."""
        h = hashlib.sha256()
        for split in (self.train, self.val, self.test):
            h.update(split.labels.numpy().tobytes())
            h.update(split.groups.numpy().tobytes())
            h.update(split.images[:: max(1, len(split) // 64)].numpy().tobytes())
        return h.hexdigest()[:16]


def balance_groups(labels: np.ndarray, groups: np.ndarray, seed: int) -> np.ndarray:
    """Indices with equal sample counts per group (paper §V): the larger group is subsampled."""
    rng = np.random.default_rng(seed)
    idx = [np.flatnonzero(groups == c) for c in (0, 1)]
    n = min(len(i) for i in idx)
    keep = [rng.choice(i, size=n, replace=False) if len(i) > n else i for i in idx]
    return np.sort(np.concatenate(keep))


def stratified_split(
    labels: np.ndarray, groups: np.ndarray, seed: int, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/val/test indices, stratified by label × group, disjoint and covering all."""
    rng = np.random.default_rng(seed)
    strata = labels.astype(np.int64) * 2 + groups.astype(np.int64)
    parts: list[list[np.ndarray]] = [[], [], []]
    for s in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == s))
        n = len(members)
        n_train = int(round(fractions[0] * n))
        n_val = int(round(fractions[1] * n))
        if n >= 3:  # every split sees the stratum when it can
            n_train = min(max(n_train, 1), n - 2)
            n_val = min(max(n_val, 1), n - n_train - 1)
        parts[0].append(members[:n_train])
        parts[1].append(members[n_train : n_train + n_val])
        parts[2].append(members[n_train + n_val :])
    return tuple(np.sort(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


def make_splits(
    images: torch.Tensor,
    labels: np.ndarray,
    groups: np.ndarray,
    seed: int,
    balance: bool,
    values: np.ndarray | None = None,
    value_names: list[str] | None = None,
    skin_types: np.ndarray | None = None,
    min_group_size: int | None = None,
    **meta: Any,
) -> Splits:
    """Apply balancing and the stratified split to a full decoded dataset (``values``: each image's
    group value id when there are more than two values; ``value_names`` names them; ``skin_types``:
    each image's labelled Fitzpatrick type, if known; ``min_group_size``: set when the study reads
    every value (``dataset.groups: all``), the test images each value needs)."""
    keep = balance_groups(labels, groups, seed) if balance else np.arange(len(labels))
    labels, groups = labels[keep], groups[keep]
    images = images[torch.as_tensor(keep)]
    tr, va, te = stratified_split(labels, groups, seed)
    full = TensorSplit(images, torch.as_tensor(labels), torch.as_tensor(groups),
                       None if values is None else torch.as_tensor(values[keep]),
                       list(value_names or []) if min_group_size is not None else None)
    if values is not None:
        names = list(value_names or [])
        meta["info"] = {**meta.get("info", {}), "group_values": names}
        absent = sorted(set(np.unique(values[keep]).tolist()) - set(np.unique(values[keep][te]).tolist()))
        if absent:
            raise DataError(f"group value(s) {quoted_listing(names[v] if v < len(names) else v for v in absent)} have "
                            "no image in the test split (too few images); add images or merge the value into another")
        if min_group_size is not None:
            check_group_sizes(values[keep][te], names, min_group_size, str(meta.get("name", "dataset")))
    if skin_types is not None:
        meta["skin_types"] = tuple(skin_types[keep][part] for part in (tr, va, te))
    return Splits(train=full.subset(tr), val=full.subset(va), test=full.subset(te), **meta)
