"""Test-set uncertainty of one model's metrics: a stratified bootstrap over test images.

Why stratified by group × class: the test split is built with fixed group and class counts (the
balance step), so a resample that let those counts drift would add variance the experiment does
not have; resampling within each (group, class) stratum keeps them and every rate defined.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from . import registry
from .core import compute

BOOTSTRAP_METRICS = registry.columns("bootstrap")


def strata(labels: np.ndarray, groups: np.ndarray) -> list[np.ndarray]:
    """Indices of each non-empty (group, class) stratum, in a fixed order."""
    keys = groups.astype(np.int64) * (int(labels.max()) + 1) + labels.astype(np.int64)
    return [np.flatnonzero(keys == k) for k in np.unique(keys)]


def resampled_indices(labels: np.ndarray, groups: np.ndarray, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Row indices of each stratified resample (drawn with replacement within each stratum), seeded;
    a paired bootstrap applies the same indices to both models' predictions."""
    rng = np.random.default_rng(seed)
    parts = strata(labels, groups)
    for _ in range(resamples):
        yield np.concatenate([part[rng.integers(0, len(part), len(part))] for part in parts])


def percentile_interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap draws."""
    tail = 100 * (1 - level) / 2
    return float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))


def stratified_bootstrap(labels: Sequence[int], preds: Sequence[int], groups: Sequence[int], num_classes: int,
                         resamples: int = 1000, seed: int = 0, level: float = 0.95,
                         metrics: Sequence[str] = BOOTSTRAP_METRICS) -> dict[str, tuple[float, float]]:
    """Percentile interval of each metric over ``resamples`` stratified resamples of the images."""
    y, p, g = (np.asarray(a, dtype=np.int64) for a in (labels, preds, groups))
    draws = {m: np.empty(resamples) for m in metrics}
    for b, idx in enumerate(resampled_indices(y, g, resamples, seed)):
        m = compute(y[idx], p[idx], g[idx], num_classes=num_classes)
        for key in metrics:
            draws[key][b] = m[key]
    return {k: percentile_interval(v, level) for k, v in draws.items()}
