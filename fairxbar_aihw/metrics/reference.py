"""A deployment against its reference model: which group its changed predictions fall on.

Why: the same trained model gives other predictions once it is quantised, pruned, put on an analog
chip, or run on another GPU, CPU or vendor's kernels, and those changes need not spread evenly over
groups (Nelaturu et al., "On the fairness impacts of hardware selection in machine learning", ICML
2024, arXiv 2312.03886). Both models predict the same test rows, so every comparison here is
paired, row by row:

- churn per group: the share of the group's predictions the deployment changed, with an exact
  Clopper-Pearson interval (a binomial count);
- McNemar per group: of the rows whose correctness changed, are more broken than fixed? The
  exact test is a binomial test on those discordant rows (p = ½ under no change);
- the churn gap (group 0 − group 1; with more than two groups the largest minus the smallest
  group churn) and the change of every fairness metric (deployed −
  reference), with percentile intervals from a paired bootstrap: each resample draws rows
  (within each group × class stratum, like the test-set intervals of ``bootstrap.py``) and scores
  both models on the same rows, so what the two share cancels out of the interval.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence, TypeAlias

import numpy as np
import pandas as pd

from ..errors import DataError, quote_value, quoted_listing
from . import registry
from .bootstrap import percentile_interval, resampled_indices
from .core import GROUPS, compute
from .predictions_file import ID_COLUMN, Predictions, read_predictions

DELTA_METRICS = registry.columns("delta")

Source: TypeAlias = "str | Path | pd.DataFrame"  # a predictions CSV, or its table


def _match(dep: Predictions, ref: Predictions) -> tuple[np.ndarray, str]:
    """For each reference row, the index of the same row in the deployed file (by id, else by position)."""
    if (dep.ids is None) != (ref.ids is None):
        has, lacks = (dep, ref) if ref.ids is None else (ref, dep)
        raise DataError(f"{has.path} has an '{ID_COLUMN}' column but {lacks.path} has none; give both files the "
                        "id column (rows are matched by it) or neither (rows are matched by position)")
    if len(dep.labels) != len(ref.labels):
        raise DataError(f"{dep.path} has {len(dep.labels)} rows but the reference {ref.path} has {len(ref.labels)}; "
                        "both files must hold predictions for the same test rows")
    if dep.ids is None:
        return np.arange(len(ref.labels)), "position"
    where = {v: i for i, v in enumerate(dep.ids)}
    absent = [v for v in ref.ids if v not in where]  # type: ignore[union-attr]
    if absent:
        raise DataError(f"{len(absent)} id(s) of the reference {ref.path} are not in {dep.path} (first: "
                        f"'{quote_value(absent[0])}'); both files must hold predictions for the same test rows")
    return np.array([where[v] for v in ref.ids], dtype=np.int64), "id"  # type: ignore[union-attr]


def _names(p: Predictions) -> str:
    return quoted_listing(p.group_names) if p.group_names is not None else "group codes"


def _same_rows(dep: Predictions, ref: Predictions, order: np.ndarray) -> None:
    """The matched rows must agree on what is not the model's: the true label and the group."""
    for what, a, b in (("label", dep.labels[order], ref.labels), ("group", dep.groups[order], ref.groups)):
        differ = np.flatnonzero(a != b)
        if len(differ):
            i = differ[0]
            row = f"id '{quote_value(ref.ids[i])}'" if ref.ids is not None else f"data row {i + 1}"
            raise DataError(f"{len(differ)} matched row(s) have a different {what} in {dep.path} and {ref.path} "
                            f"(first: {row}, {what} {a[i]} vs {b[i]}); the files must describe the same test rows")


def _churn_by_group(changed: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    return np.array([changed[groups == c].mean() for c in range(n_groups)])


def _churn_gap(churn: np.ndarray) -> float:
    """Group 0 − group 1 (signed, the two-group audit's); with more groups max − min."""
    return float(churn[0] - churn[1]) if len(churn) == len(GROUPS) else float(churn.max() - churn.min())


def _mcnemar(ref_right: np.ndarray, dep_right: np.ndarray) -> dict[str, Any]:
    """Exact McNemar: rows the deployment broke (reference right, deployed wrong) against rows it fixed."""
    from scipy.stats import binomtest  # scipy loads only when a comparison runs

    broke = int((ref_right & ~dep_right).sum())
    fixed = int((~ref_right & dep_right).sum())
    p = binomtest(broke, broke + fixed, 0.5).pvalue if broke + fixed else 1.0
    return {"broke": broke, "fixed": fixed, "p_value": float(p)}


def compare(deployed: Source, reference: Source, resamples: int = 1000, seed: int = 0, level: float = 0.95,
            group_columns: Sequence[str] | None = None) -> dict[str, Any]:
    """A deployment's predictions against its reference model's on the same test rows.

    ``deployed`` and ``reference`` are predictions CSVs (or DataFrames) with label, pred, group and
    optionally id (rows are matched by it when both have one, else by position) and score_<k>.
    ``group_columns``: group the rows by these columns' values (``read_predictions``; both files must
    hold the same groups). Per group (every code 0..G-1): ``churn``, its exact ``churn_ci``, accuracy
    before and after, and ``mcnemar``; the ``churn_gap`` (group 0 − group 1; max − min for G > 2) and ``d_<metric>`` (deployed − reference) for
    ``DELTA_METRICS`` with paired stratified-bootstrap intervals (``*_ci``; ``resamples``, ``seed``).
    """
    from scipy.stats import binomtest

    if not 0 < level < 1:
        raise DataError(f"the interval level must be in (0, 1), got {level}")
    if resamples < 1:
        raise DataError(f"resamples must be at least 1, got {resamples}")
    dep, ref = read_predictions(deployed, group_columns), read_predictions(reference, group_columns)
    if dep.group_names != ref.group_names:
        raise DataError(f"{dep.path} and {ref.path} hold different groups ({_names(dep)} vs {_names(ref)}); "
                        "both files must describe the same test rows")
    order, matched_by = _match(dep, ref)
    _same_rows(dep, ref, order)
    y, g, p_ref, p_dep = ref.labels, ref.groups, ref.preds, dep.preds[order]
    k = max(int(max(y.max(), p_ref.max(), p_dep.max())) + 1, ref.num_classes or 0, dep.num_classes or 0)
    m_ref = compute(y, p_ref, g, num_classes=k, group_names=ref.group_names)
    m_dep = compute(y, p_dep, g, num_classes=k, group_names=ref.group_names)
    n_groups = len(m_ref["groups"])
    changed = p_ref != p_dep
    ref_right, dep_right = p_ref == y, p_dep == y

    out: dict[str, Any] = {
        "n": int(len(y)), "num_classes": k, "matched_by": matched_by, "changed": int(changed.sum()),
        "churn_overall": float(changed.mean()), "level": level, "resamples": resamples, "seed": seed,
        "n_by_group": {}, "changed_by_group": {}, "churn": {}, "churn_ci": {}, "accuracy_reference": {},
        "accuracy_deployed": {}, "d_accuracy_by_group": {}, "mcnemar": {},
    }
    if n_groups > len(GROUPS) or ref.group_names is not None:  # the two-group output keeps its keys
        out["groups"], out["group_names"] = m_ref["groups"], m_ref["group_names"]
    for c in range(n_groups):
        in_c = g == c
        n_c, x_c = int(in_c.sum()), int(changed[in_c].sum())
        ci = binomtest(x_c, n_c).proportion_ci(confidence_level=level, method="exact")
        acc_ref, acc_dep = m_ref["per_group"][c]["accuracy"], m_dep["per_group"][c]["accuracy"]
        out["n_by_group"][c], out["changed_by_group"][c] = n_c, x_c
        out["churn"][c], out["churn_ci"][c] = x_c / n_c, [float(ci.low), float(ci.high)]
        out["accuracy_reference"][c], out["accuracy_deployed"][c] = acc_ref, acc_dep
        out["d_accuracy_by_group"][c] = acc_dep - acc_ref
        out["mcnemar"][c] = _mcnemar(ref_right[in_c], dep_right[in_c])
    out["churn_gap"] = _churn_gap(_churn_by_group(changed, g, n_groups))

    draws = {key: np.empty(resamples) for key in ("churn_gap", *DELTA_METRICS)}
    for b, idx in enumerate(resampled_indices(y, g, resamples, seed)):
        r = compute(y[idx], p_ref[idx], g[idx], num_classes=k)
        d = compute(y[idx], p_dep[idx], g[idx], num_classes=k)
        draws["churn_gap"][b] = _churn_gap(_churn_by_group(changed[idx], g[idx], n_groups))
        for key in DELTA_METRICS:
            draws[key][b] = d[key] - r[key]
    out["churn_gap_ci"] = list(percentile_interval(draws["churn_gap"], level))
    out["reference"] = {key: float(m_ref[key]) for key in DELTA_METRICS}
    out["deployed"] = {key: float(m_dep[key]) for key in DELTA_METRICS}
    for key in DELTA_METRICS:
        out[f"d_{key}"] = float(m_dep[key] - m_ref[key])
        out[f"d_{key}_ci"] = list(percentile_interval(draws[key], level))
    return out


def comparison_lines(r: dict[str, Any]) -> list[str]:
    """``compare``'s result as the lines ``fairxbar-aihw metrics --reference`` prints."""
    pct = f"{100 * r['level']:g}%"
    lines = [f"{r['n']} rows matched by {r['matched_by']}, {r['num_classes']} classes; the deployment changed "
             f"{r['changed']} predictions (churn {r['churn_overall']:.4f})",
             f"{'group':18s} {'n':>6s} {'changed':>8s}  {f'churn [{pct} CI]':25s}  "
             f"{'accuracy ref → deployed (Δ)':27s}  McNemar broke/fixed, p"]
    names = r.get("group_names")
    for c in r["churn"]:
        name = f"{c} ({'unprivileged' if c == 0 else 'privileged'})" if names is None else str(names[c])[:18]
        lo, hi = r["churn_ci"][c]
        mc = r["mcnemar"][c]
        lines.append(f"{name:18s} {r['n_by_group'][c]:6d} {r['changed_by_group'][c]:8d}  {r['churn'][c]:.4f} "
                     f"[{lo:.4f}, {hi:.4f}]  {r['accuracy_reference'][c]:.4f} → {r['accuracy_deployed'][c]:.4f} "
                     f"({r['d_accuracy_by_group'][c]:+.4f})    {mc['broke']}/{mc['fixed']}, p={mc['p_value']:.3g}")
    lo, hi = r["churn_gap_ci"]
    what = "group 0 − group 1" if len(r["churn"]) == len(GROUPS) else "largest − smallest group churn"
    lines.append(f"churn gap ({what}): {r['churn_gap']:+.4f} [{lo:+.4f}, {hi:+.4f}] (paired bootstrap, "
                 f"{r['resamples']} resamples, seed {r['seed']})")
    lines.append(f"{'metric':10s} {'reference':>10s} {'deployed':>10s} {'change':>9s}  [{pct} CI]")
    for key in DELTA_METRICS:
        lo, hi = r[f"d_{key}_ci"]
        lines.append(f"{key:10s} {r['reference'][key]:10.4f} {r['deployed'][key]:10.4f} {r[f'd_{key}']:+9.4f}  "
                     f"[{lo:+.4f}, {hi:+.4f}]")
    return lines
