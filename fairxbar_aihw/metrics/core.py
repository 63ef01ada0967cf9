"""Accuracy and group-fairness metrics from predictions (FairXbar §II-A, Mugdho et al.; the pruning study's
per-group rates, Sinha & Groover 2023; docs/user-guide.md "Metrics"; README "References").

Everything is computed from one vectorised confusion tensor ``conf[group, true, pred]``
(numpy ``bincount``), so 100k samples take milliseconds.

Groups: integer codes 0..G-1, G ≥ 2. Two groups give the paper's two-group audit, unchanged.
More groups add the k-group gaps (``compute``'s docstring; docs/user-guide.md, "More than two
groups"): the worst pair keeps the paper's two-group scale and names two real groups, the range is
an upper bound that mixes groups per class.

Undefined rates: when a class has no positives (TPR undefined) or no negatives (FPR/TNR
undefined) in a group, that class is left out of every fairness sum or mean that needs the
rate (a pair's sum: where either group of the pair lacks it; the range and ``undefined``: where any
group lacks it), and the left-out classes are listed in ``undefined``. Per-group rate lists hold
``None`` there. No NaN ever reaches a headline number.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import UserError, listing, quote_value
from . import registry
from .gap_bias import corrected_gaps, kgroup_corrected_gaps, two_group_as_kgroup

GROUPS = (0, 1)  # the two-group audit's codes: 0 = unprivileged, 1 = privileged
MAX_CLASSES = 2000  # a K×K confusion per group; bounds memory for a mistyped label (e.g. 30000)
MAX_GROUPS = 64  # a group code beyond is a mistake (an id column given as groups), not an audit
MAX_CELLS = len(GROUPS) * MAX_CLASSES ** 2  # confusion cells (groups × K × K): the two-group maximum
CELL_CHUNK = 1 << 20  # samples whose confusion cells are counted at once


def _as_int_array(name: str, values: Sequence[int] | np.ndarray) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()  # type: ignore[union-attr]
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise UserError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.signedinteger):
        return arr  # no copy: a large predictions file stays near its own size in memory
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise UserError(f"{name} must hold integer class/group ids")
        arr = arr.astype(np.int64)
    return arr.astype(np.int64)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _f1_from_conf(conf: np.ndarray, classes: np.ndarray) -> float:
    """Macro-F1 over ``classes`` with sklearn's zero_division=0 convention."""
    if classes.size == 0:
        return 0.0
    tp = np.diag(conf)[classes].astype(np.float64)
    fp = conf.sum(axis=0)[classes] - tp
    fn = conf.sum(axis=1)[classes] - tp
    den = 2 * tp + fp + fn
    f1 = np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0)
    return float(f1.mean())


def _present_classes(conf: np.ndarray) -> np.ndarray:
    """Classes seen in labels or predictions (sklearn's default label set)."""
    return np.flatnonzero((conf.sum(axis=0) + conf.sum(axis=1)) > 0)


def _kappa(conf: np.ndarray) -> float:
    n = conf.sum()
    if n == 0:
        return 0.0
    po = np.trace(conf) / n
    pe = float((conf.sum(axis=0) * conf.sum(axis=1)).sum()) / (n * n)
    return float((po - pe) / (1 - pe)) if pe < 1 else 0.0


def binary_auc(y_true: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC by the Mann-Whitney rank statistic (ties get mid-ranks); None if one class only."""
    pos = y_true.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # mid-ranks for ties
    _, first, counts = np.unique(s, return_index=True, return_counts=True)
    mid = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(mid, counts)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _macro_auc(y: np.ndarray, scores: np.ndarray, num_classes: int) -> float | None:
    vals = [binary_auc(y == k, scores[:, k]) for k in range(num_classes)]
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else None


def _nan_to_none(arr: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in arr]


def _group_names(group_names: Sequence[Any] | None, n_groups: int) -> list[str]:
    if group_names is None:
        return [str(i) for i in range(n_groups)]
    names = [str(v) for v in group_names]
    if len(names) != n_groups:
        raise UserError(f"group_names has {len(names)} name(s) but the group codes are 0..{n_groups - 1} "
                        f"({n_groups} groups); give one name per group code")
    return names


def _pair_gaps(tpr: np.ndarray, fpr: np.ndarray, a: int, b: int) -> dict[str, float]:
    """The paper's two-group sums between groups a and b, over the classes whose rate both define."""
    d_tpr = np.abs(tpr[b] - tpr[a])
    d_fpr = np.abs(fpr[b] - fpr[a])
    ok_tpr = ~np.isnan(d_tpr)
    ok_fpr = ~np.isnan(d_fpr)
    ok_both = ok_tpr & ok_fpr

    def _mean(v: np.ndarray, ok: np.ndarray) -> float:
        return float(v[ok].mean()) if ok.any() else 0.0

    return {
        "eodds": float((d_tpr[ok_both] + d_fpr[ok_both]).sum()),
        "eopp0": float(d_fpr[ok_fpr].sum()),  # |ΔTNR| = |ΔFPR|
        "eopp1": float(d_tpr[ok_tpr].sum()),
        "eodds_nd": _mean((d_tpr + d_fpr) / 2.0, ok_both),
        "eopp0_nd": _mean(d_fpr, ok_fpr),
        "eopp1_nd": _mean(d_tpr, ok_tpr),
    }


def _range_gaps(tpr: np.ndarray, fpr: np.ndarray) -> dict[str, float]:
    """Per class the range over groups (max − min) of TPR, FPR or both, summed over the classes whose
    rate every group defines; with two groups exactly the paper's sums (max − min = |Δ| in floats)."""
    ok_tpr = ~np.isnan(tpr).any(axis=0)
    ok_fpr = ~np.isnan(fpr).any(axis=0)
    ok_both = ok_tpr & ok_fpr
    r_tpr = np.where(ok_tpr, np.max(tpr, axis=0, initial=-np.inf, where=~np.isnan(tpr))
                     - np.min(tpr, axis=0, initial=np.inf, where=~np.isnan(tpr)), np.nan)
    r_fpr = np.where(ok_fpr, np.max(fpr, axis=0, initial=-np.inf, where=~np.isnan(fpr))
                     - np.min(fpr, axis=0, initial=np.inf, where=~np.isnan(fpr)), np.nan)
    return {
        "eodds_range": float((r_tpr[ok_both] + r_fpr[ok_both]).sum()),
        "eopp0_range": float(r_fpr[ok_fpr].sum()),
        "eopp1_range": float(r_tpr[ok_tpr].sum()),
    }


def compute(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    groups: Sequence[int] | np.ndarray,
    scores: np.ndarray | None = None,
    num_classes: int | None = None,
    group_names: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """All metrics of the user guide's "Metrics" section for an audit over G ≥ 2 groups.

    ``groups`` are integer codes 0..G-1 (two groups: 0 = unprivileged, 1 = privileged), every code
    with samples; ``group_names`` (one per code, default ``"0"``, ``"1"``, ...) is only returned.
    Returns a flat dict of headline numbers plus ``per_group`` (group → per-class rates) and
    ``undefined`` (which classes were left out of which fairness term, and why).

    Two groups: the paper's numbers, unchanged. G > 2 (why: a headline must stay on the paper's
    two-group scale so that it compares with two-group results and names the groups it is about):
    ``eodds``, ``eopp0``, ``eopp1`` are the worst-pair gaps (each the largest two-group sum over
    group pairs, each its own pair); ``*_nd`` are the two-group means of the ``eodds`` worst pair;
    ``*_bc``/``*_floor`` those of the worst-pair gaps; ``acc_gap``/``f1_gap`` the max − min over
    groups. For every G: ``*_range`` (per class max − min over groups, summed: an upper bound that
    mixes groups per class), ``*_worst_pair``, ``worst_pair`` [a, b], ``pairwise_eodds`` (G×G),
    ``worst_group`` (lowest accuracy) and their ``_bc``/``_floor`` (``gap_bias.kgroup_corrected_gaps``);
    with two groups the range and worst pair both equal the paper's gap.
    """
    y = _as_int_array("y_true", y_true)
    p = _as_int_array("y_pred", y_pred)
    g = _as_int_array("groups", groups)
    if not (len(y) == len(p) == len(g)):
        raise UserError(f"label, prediction and group lengths differ: {len(y)}, {len(p)}, {len(g)}")
    if len(y) == 0:
        raise UserError("no samples to score: the predictions are empty")
    if y.min() < 0 or p.min() < 0:
        raise UserError("labels and predictions must be non-negative class ids")
    if g.min() < 0:  # no sorted copy of a large column
        bad = np.unique(g[g < 0]).tolist()
        raise UserError(f"group codes must be 0..G-1 (non-negative integers); found {listing(bad)}")
    n_groups = max(int(g.max()) + 1, len(GROUPS))
    if n_groups > MAX_GROUPS:
        raise UserError(f"group code {n_groups - 1} is too large: at most {MAX_GROUPS} groups are supported; "
                        "number the groups 0..G-1 or merge small ones")
    names = _group_names(group_names, n_groups)
    k = int(max(y.max(), p.max()) + 1)
    if max(k, num_classes or 0) > MAX_CLASSES:
        raise UserError(f"class id {max(k, num_classes or 0) - 1} is too large: at most {MAX_CLASSES} classes are "
                        "supported; number the classes 0..K-1")
    if num_classes is not None:
        if k > num_classes:
            raise UserError(f"class id {k - 1} is out of range for num_classes={num_classes}")
        k = num_classes
    if n_groups * k * k > MAX_CELLS:
        raise UserError(f"{n_groups} groups × {k} classes need {n_groups * k * k} confusion cells, more than the "
                        f"{MAX_CELLS} supported; merge groups or classes")
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(y), k):
            raise UserError(f"scores must have shape (n, {k}), got {scores.shape}")
        if not np.isfinite(scores).all():
            bad_rows = np.flatnonzero(~np.isfinite(scores).all(axis=1))
            raise UserError(f"scores hold {len(bad_rows)} row(s) with NaN or infinite values (first row "
                            f"{bad_rows[0]}); every score must be a finite number")

    cells = n_groups * k * k
    counts = np.zeros(cells, dtype=np.int64)
    for s in range(0, len(y), CELL_CHUNK):  # chunks keep the int64 cell ids small beside the data
        cell = g[s:s + CELL_CHUNK].astype(np.int64)  # (group·K + true)·K + pred
        cell *= k
        cell += y[s:s + CELL_CHUNK]
        cell *= k
        cell += p[s:s + CELL_CHUNK]
        counts += np.bincount(cell, minlength=cells)
    conf = counts.reshape(n_groups, k, k)
    empty = np.flatnonzero(conf.sum(axis=(1, 2)) == 0)
    if empty.size:
        c = int(empty[0])
        if n_groups == len(GROUPS):
            raise UserError(f"group {c} has no samples: fairness between groups needs both groups")
        shown = f" ({quote_value(names[c])})" if group_names is not None else ""
        raise UserError(f"group {c}{shown} has no samples: every group code 0..{n_groups - 1} needs samples; "
                        "number the groups that occur 0..G-1")

    tp = np.diagonal(conf, axis1=1, axis2=2).astype(np.float64)  # (G, K)
    pos = conf.sum(axis=2).astype(np.float64)  # true count per class
    pred_pos = conf.sum(axis=1).astype(np.float64)
    n_g = conf.sum(axis=(1, 2)).astype(np.float64)[:, None]
    fp = pred_pos - tp
    neg = n_g - pos
    tpr = _safe_div(tp, pos)
    fpr = _safe_div(fp, neg)
    tnr = 1.0 - fpr
    fnr = 1.0 - tpr
    ppv = _safe_div(tp, pred_pos)

    first, second = np.triu_indices(n_groups, 1)  # every pair a < b
    pairs = [_pair_gaps(tpr, fpr, int(a), int(b)) for a, b in zip(first, second)]
    worst = {key: int(np.argmax([pg[key] for pg in pairs])) for key in ("eodds", "eopp0", "eopp1")}
    headline = dict(pairs[worst["eodds"]])  # two groups: the one pair, the paper's numbers
    headline["eopp0"] = pairs[worst["eopp0"]]["eopp0"]
    headline["eopp1"] = pairs[worst["eopp1"]]["eopp1"]
    if n_groups == len(GROUPS):
        two_group_bias = corrected_gaps(conf)
        kgroup_bias = two_group_as_kgroup(two_group_bias)
    else:
        kgroup_bias = kgroup_corrected_gaps(conf)
        two_group_bias = {f"{m}_{what}": kgroup_bias[f"{m}_worst_pair_{what}"]
                          for what in ("bc", "floor") for m in ("eodds", "eopp0", "eopp1")}
        two_group_bias = {key: two_group_bias[key] for key in sorted(two_group_bias, key=_BIAS_ORDER.index)}

    pooled = conf.sum(axis=0)
    present = _present_classes(pooled)
    out: dict[str, Any] = {
        "n": int(len(y)),
        "num_classes": k,
        "accuracy": float(np.trace(pooled) / len(y)),
        "f1_macro": _f1_from_conf(pooled, present),
        "f1_micro": float(np.trace(pooled) / len(y)),
        "kappa": _kappa(pooled),
        **headline,
        **two_group_bias,
        "undefined": {  # a class whose rate some group lacks
            "tpr": np.flatnonzero(np.isnan(tpr).any(axis=0)).tolist(),
            "fpr": np.flatnonzero(np.isnan(fpr).any(axis=0)).tolist(),
        },
    }
    per_group: dict[int, dict[str, Any]] = {}
    macro_ppv = []
    for c in range(n_groups):
        pc = _present_classes(conf[c])
        acc_c = float(np.trace(conf[c]) / conf[c].sum())
        ppv_c = ppv[c][~np.isnan(ppv[c])]
        macro_ppv.append(float(ppv_c.mean()) if ppv_c.size else 0.0)
        per_group[c] = {
            "n": int(conf[c].sum()),
            "accuracy": acc_c,
            "f1_macro": _f1_from_conf(conf[c], pc),
            "tpr": _nan_to_none(tpr[c]),
            "fpr": _nan_to_none(fpr[c]),
            "tnr": _nan_to_none(tnr[c]),
            "fnr": _nan_to_none(fnr[c]),
            "ppv": _nan_to_none(ppv[c]),
            "ppv_macro": macro_ppv[-1],
            "kappa": _kappa(conf[c]),
        }
    best_ppv = max(macro_ppv)
    selection = pred_pos / n_g  # (G, K): share of each group predicted as class k
    best_sel = selection.max(axis=0)
    predicted = best_sel > 0  # classes nobody is predicted as carry no selection-rate information
    for c in range(n_groups):
        # PPV ratio to the best group (the pruning study's "disparate impact" column, Sinha & Groover 2023)
        per_group[c]["ppv_ratio"] = macro_ppv[c] / best_ppv if best_ppv > 0 else 1.0
        # selection-rate ratio to the best group, averaged over predicted classes: the usual
        # disparate impact (demographic-parity ratio), one-vs-rest per class
        per_group[c]["selection_rate"] = selection[c].tolist()
        per_group[c]["selection_rate_ratio"] = (float(np.mean(selection[c][predicted] / best_sel[predicted]))
                                                if predicted.any() else 1.0)
    if scores is not None:
        out["auc"] = _macro_auc(y, scores, k)
        for c in range(n_groups):
            mask = g == c
            per_group[c]["auc"] = _macro_auc(y[mask], scores[mask], k)
    out["per_group"] = per_group
    acc = np.array([per_group[c]["accuracy"] for c in range(n_groups)])
    f1 = np.array([per_group[c]["f1_macro"] for c in range(n_groups)])
    if n_groups == len(GROUPS):
        out["acc_gap"] = per_group[1]["accuracy"] - per_group[0]["accuracy"]
        out["f1_gap"] = per_group[1]["f1_macro"] - per_group[0]["f1_macro"]
    else:
        out["acc_gap"] = float(acc.max() - acc.min())
        out["f1_gap"] = float(f1.max() - f1.min())
    matrix = np.zeros((n_groups, n_groups))
    matrix[first, second] = matrix[second, first] = [pg["eodds"] for pg in pairs]
    out.update({
        "groups": list(range(n_groups)),
        "group_names": names,
        **_range_gaps(tpr, fpr),
        **{f"{key}_worst_pair": pairs[j][key] for key, j in worst.items()},
        "worst_pair": [int(first[worst["eodds"]]), int(second[worst["eodds"]])],
        "pairwise_eodds": matrix.tolist(),
        "worst_group": int(np.argmin(acc)),
        **kgroup_bias,
    })
    return out


_BIAS_ORDER = ["eodds_bc", "eopp0_bc", "eopp1_bc", "eodds_floor", "eopp0_floor", "eopp1_floor"]

HEADLINE = registry.columns("headline")  # a results row's scalar columns (metrics/registry.py)
KGROUP_GAPS = tuple(f"{m}_{kind}{suffix}" for m in ("eodds", "eopp0", "eopp1") for kind in ("range", "worst_pair")
                    for suffix in ("", "_bc", "_floor"))


def flat_row(m: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Scalar columns for a results table: headline metrics plus per-group accuracy, F1, macro
    FPR/FNR/PPV (over classes where defined), PPV ratio and selection-rate ratio; with more than
    two groups also the k-group gaps (``KGROUP_GAPS``), worst group and pair and the accuracy range.
    Two groups give exactly the columns of the two-group audit. ``prefix`` starts every name (the
    pipeline stores a k-group reading beside the two-group one as ``k_…`` columns)."""
    row = {key: float(m[key]) for key in HEADLINE}
    n_groups = len(m["per_group"])
    for c in range(n_groups):
        pg = m["per_group"][c]
        row[f"acc_g{c}"] = float(pg["accuracy"])
        row[f"f1_g{c}"] = float(pg["f1_macro"])
        row[f"ppv_g{c}"] = float(pg["ppv_macro"])
        row[f"ppv_ratio_g{c}"] = float(pg["ppv_ratio"])
        row[f"sel_ratio_g{c}"] = float(pg["selection_rate_ratio"])
        for rate in ("fpr", "fnr"):
            vals = [v for v in pg[rate] if v is not None]
            row[f"{rate}_g{c}"] = float(np.mean(vals)) if vals else 0.0
    if n_groups > len(GROUPS):
        row.update({key: float(m[key]) for key in KGROUP_GAPS})
        row["worst_group"] = float(m["worst_group"])
        row["worst_pair_a"], row["worst_pair_b"] = (float(v) for v in m["worst_pair"])
        acc = [m["per_group"][c]["accuracy"] for c in range(n_groups)]
        row["acc_range"] = float(max(acc) - min(acc))
    if m.get("auc") is not None:
        row["auc"] = float(m["auc"])
    return {prefix + key: value for key, value in row.items()}


def improvement(eodds_base: float, eodds: float) -> float:
    """Fairness improvement (EOdds_base − EOdds)/EOdds_base; 0 when the base is already 0."""
    return (eodds_base - eodds) / eodds_base if eodds_base > 0 else 0.0
