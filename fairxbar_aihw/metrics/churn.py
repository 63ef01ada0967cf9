"""Churn: the share of test predictions a chip changed against its digital model, per group.

Why beside the fairness metrics: a chip can keep the same accuracy and gap while flipping many
predictions, and flips that fall on one group more than the other are a fairness cost a
designer signs off on. Counted from predictions alone (numpy), so it costs microseconds a chip.
"""
from __future__ import annotations

import numpy as np

from .core import GROUPS


def churn(pred: np.ndarray, reference: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """``churn`` (all test rows) and ``churn_g{c}`` for every group code c in 0..max(groups) (at least
    0 and 1): the share of the group's rows where ``pred`` differs from ``reference`` (NaN for a
    group with no rows)."""
    changed = np.asarray(pred) != np.asarray(reference)
    groups = np.asarray(groups)
    out = {"churn": float(changed.mean()) if changed.size else float("nan")}
    n_groups = max(len(GROUPS), int(groups.max()) + 1 if groups.size else 0)
    for c in range(n_groups):
        mine = changed[groups == c]
        out[f"churn_g{c}"] = float(mine.mean()) if mine.size else float("nan")
    return out
