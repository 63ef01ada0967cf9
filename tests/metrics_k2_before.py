"""Frozen copy of the two-group metrics before k-group support (commit 6c37b09, core.py and
gap_bias.py, docstrings cut): compute and flat_row must stay bit-identical to it for two groups
(tests/test_kgroups.py). Do not edit."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from numpy.polynomial import chebyshev, hermite_e

from fairxbar_aihw.errors import UserError, listing

APPROX_HALF_WIDTH = 2.0  # M: P approximates |x| on [−Mσ, Mσ]
APPROX_DEGREE = 4  # K: even degree of P
SWITCH = 2.0  # T: beyond |Δ̂| > Tσ the plain |Δ̂| is used


def _abs_hermite_coefficients(half_width: float, degree: int) -> np.ndarray:
    """Hermite-series coefficients c with Σ cₖ·Heₖ(z) unbiased for P(μ) ≈ |μ| when z ~ N(μ, 1).

    P is the Chebyshev interpolant of |x| on [−M, M] (near-best in the uniform norm); its monomial
    coefficients aₖ become the estimator Σ aₖ·Heₖ(z) because E[Heₖ(z)] = μᵏ.
    """
    nodes = np.cos(np.pi * (np.arange(400) + 0.5) / 400)
    on_unit = chebyshev.cheb2poly(chebyshev.chebfit(nodes, np.abs(nodes), degree))
    return half_width * on_unit / half_width ** np.arange(on_unit.size)


_COEFFS = _abs_hermite_coefficients(APPROX_HALF_WIDTH, APPROX_DEGREE)


def debiased_abs(delta: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Estimates of |Δ| from Δ̂ ≈ N(Δ, σ²), elementwise (Cai & Low 2011): bias within ±0.21σ when Δ̂
    is Gaussian and σ known; the module docstring gives the bounds with binomial counts and σ̂."""
    delta = np.asarray(delta, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    out = np.abs(delta)
    small = (sigma > 0) & (out <= SWITCH * sigma)
    if small.any():
        s = sigma[small]
        z = delta[small] / s
        poly = np.zeros_like(z)
        for k, a in enumerate(_COEFFS):
            if a != 0.0:
                poly += a * hermite_e.hermeval(z, np.eye(k + 1)[k])
        out[small] = s * poly
    return out


def _rate_and_sd(hits: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (group, class): the rate and its binomial standard error (NaN where total is 0).

    The variance uses the add-one-half rate (x + ½)/(n + 1), so a rate of exactly 0 or 1 on a
    small class still gets a non-zero spread instead of pretending to be exact. For a one-vs-rest
    FPR this binomial σ̂ is exact when confusions spread over the other classes and too large (by
    4–27%, module docstring) when they come from one.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(total > 0, hits / np.where(total > 0, total, 1), np.nan)
        smooth = (hits + 0.5) / (total + 1.0)
        sd = np.where(total > 0, np.sqrt(smooth * (1 - smooth) / np.where(total > 0, total, 1)), np.nan)
    return rate, sd


def _floor_sd(hits: np.ndarray, total: np.ndarray) -> np.ndarray:
    """σ₀ of a rate difference when both groups share the pooled rate of each class."""
    n1, n0 = total[1], total[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (hits[0] + hits[1] + 0.5) / (n0 + n1 + 1.0)
        return np.sqrt(pooled * (1 - pooled) * (1.0 / n0 + 1.0 / n1))


def corrected_gaps(conf: np.ndarray) -> dict[str, float]:
    """``eodds_bc``, ``eopp0_bc``, ``eopp1_bc`` and the noise floors ``eodds_floor``,
    ``eopp0_floor``, ``eopp1_floor`` from a confusion tensor ``conf[group, true, pred]``.

    A class enters a sum exactly where the raw metric uses it (its rate defined in both groups).
    """
    tp = np.diagonal(conf, axis1=1, axis2=2).astype(np.float64)  # (2, K)
    pos = conf.sum(axis=2).astype(np.float64)
    neg = conf.sum(axis=(1, 2)).astype(np.float64)[:, None] - pos
    fp = conf.sum(axis=1).astype(np.float64) - tp
    tpr, tpr_sd = _rate_and_sd(tp, pos)
    fpr, fpr_sd = _rate_and_sd(fp, neg)
    ok_tpr = (pos > 0).all(axis=0)
    ok_fpr = (neg > 0).all(axis=0)
    ok_both = ok_tpr & ok_fpr

    def corrected(rate: np.ndarray, sd: np.ndarray, ok: np.ndarray) -> np.ndarray:
        out = np.zeros(rate.shape[1])
        out[ok] = debiased_abs(rate[1, ok] - rate[0, ok], np.hypot(sd[1, ok], sd[0, ok]))
        return out

    def floor(hits: np.ndarray, total: np.ndarray, ok: np.ndarray) -> np.ndarray:
        out = np.zeros(hits.shape[1])
        out[ok] = _floor_sd(hits[:, ok], total[:, ok]) * math.sqrt(2.0 / math.pi)
        return out

    d_tpr, d_fpr = corrected(tpr, tpr_sd, ok_tpr), corrected(fpr, fpr_sd, ok_fpr)
    f_tpr, f_fpr = floor(tp, pos, ok_tpr), floor(fp, neg, ok_fpr)
    return {
        "eodds_bc": float((d_tpr + d_fpr)[ok_both].sum()),
        "eopp0_bc": float(d_fpr[ok_fpr].sum()),
        "eopp1_bc": float(d_tpr[ok_tpr].sum()),
        "eodds_floor": float((f_tpr + f_fpr)[ok_both].sum()),
        "eopp0_floor": float(f_fpr[ok_fpr].sum()),
        "eopp1_floor": float(f_tpr[ok_tpr].sum()),
    }


GROUPS = (0, 1)
MAX_CLASSES = 2000  # a K×K confusion per group; bounds memory for a mistyped label (e.g. 30000)
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


def compute(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    groups: Sequence[int] | np.ndarray,
    scores: np.ndarray | None = None,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """All metrics of the user guide's "Metrics" section for a two-group (0 = unprivileged, 1 = privileged) audit.

    Returns a flat dict of headline numbers plus ``per_group`` (group → per-class rates) and
    ``undefined`` (which classes were left out of which fairness term, and why).
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
    if g.min() < min(GROUPS) or g.max() > max(GROUPS):  # no sorted copy of a large column
        bad = set(np.unique(g[(g < min(GROUPS)) | (g > max(GROUPS))]).tolist())
        raise UserError(f"groups must be 0 (unprivileged) or 1 (privileged); found {listing(sorted(bad))}")
    k = int(max(y.max(), p.max()) + 1)
    if max(k, num_classes or 0) > MAX_CLASSES:
        raise UserError(f"class id {max(k, num_classes or 0) - 1} is too large: at most {MAX_CLASSES} classes are "
                        "supported; number the classes 0..K-1")
    if num_classes is not None:
        if k > num_classes:
            raise UserError(f"class id {k - 1} is out of range for num_classes={num_classes}")
        k = num_classes
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(y), k):
            raise UserError(f"scores must have shape (n, {k}), got {scores.shape}")
        if not np.isfinite(scores).all():
            bad_rows = np.flatnonzero(~np.isfinite(scores).all(axis=1))
            raise UserError(f"scores hold {len(bad_rows)} row(s) with NaN or infinite values (first row "
                            f"{bad_rows[0]}); every score must be a finite number")

    counts = np.zeros(2 * k * k, dtype=np.int64)
    for s in range(0, len(y), CELL_CHUNK):  # chunks keep the int64 cell ids small beside the data
        cell = g[s:s + CELL_CHUNK].astype(np.int64)  # (group·K + true)·K + pred
        cell *= k
        cell += y[s:s + CELL_CHUNK]
        cell *= k
        cell += p[s:s + CELL_CHUNK]
        counts += np.bincount(cell, minlength=2 * k * k)
    conf = counts.reshape(2, k, k)
    for c in GROUPS:
        if conf[c].sum() == 0:
            raise UserError(f"group {c} has no samples: fairness between groups needs both groups")

    tp = np.diagonal(conf, axis1=1, axis2=2).astype(np.float64)  # (2, K)
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

    d_tpr = np.abs(tpr[1] - tpr[0])
    d_fpr = np.abs(fpr[1] - fpr[0])
    ok_tpr = ~np.isnan(d_tpr)
    ok_fpr = ~np.isnan(d_fpr)
    ok_both = ok_tpr & ok_fpr

    def _mean(v: np.ndarray, ok: np.ndarray) -> float:
        return float(v[ok].mean()) if ok.any() else 0.0

    pooled = conf.sum(axis=0)
    present = _present_classes(pooled)
    out: dict[str, Any] = {
        "n": int(len(y)),
        "num_classes": k,
        "accuracy": float(np.trace(pooled) / len(y)),
        "f1_macro": _f1_from_conf(pooled, present),
        "f1_micro": float(np.trace(pooled) / len(y)),
        "kappa": _kappa(pooled),
        "eodds": float((d_tpr[ok_both] + d_fpr[ok_both]).sum()),
        "eopp0": float(d_fpr[ok_fpr].sum()),  # |ΔTNR| = |ΔFPR|
        "eopp1": float(d_tpr[ok_tpr].sum()),
        "eodds_nd": _mean((d_tpr + d_fpr) / 2.0, ok_both),
        "eopp0_nd": _mean(d_fpr, ok_fpr),
        "eopp1_nd": _mean(d_tpr, ok_tpr),
        **corrected_gaps(conf),
        "undefined": {
            "tpr": np.flatnonzero(~ok_tpr).tolist(),
            "fpr": np.flatnonzero(~ok_fpr).tolist(),
        },
    }
    per_group: dict[int, dict[str, Any]] = {}
    macro_ppv = []
    for c in GROUPS:
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
    selection = pred_pos / n_g  # (2, K): share of each group predicted as class k
    best_sel = selection.max(axis=0)
    predicted = best_sel > 0  # classes nobody is predicted as carry no selection-rate information
    for c in GROUPS:
        # PPV ratio to the best group (the pruning study's "disparate impact" column, Sinha & Groover 2023)
        per_group[c]["ppv_ratio"] = macro_ppv[c] / best_ppv if best_ppv > 0 else 1.0
        # selection-rate ratio to the best group, averaged over predicted classes: the usual
        # disparate impact (demographic-parity ratio), one-vs-rest per class
        per_group[c]["selection_rate"] = selection[c].tolist()
        per_group[c]["selection_rate_ratio"] = (float(np.mean(selection[c][predicted] / best_sel[predicted]))
                                                if predicted.any() else 1.0)
    mask_g = [g == c for c in GROUPS]
    if scores is not None:
        out["auc"] = _macro_auc(y, scores, k)
        for c in GROUPS:
            per_group[c]["auc"] = _macro_auc(y[mask_g[c]], scores[mask_g[c]], k)
    out["per_group"] = per_group
    out["acc_gap"] = per_group[1]["accuracy"] - per_group[0]["accuracy"]
    out["f1_gap"] = per_group[1]["f1_macro"] - per_group[0]["f1_macro"]
    return out


HEADLINE = (
    "accuracy", "f1_macro", "f1_micro", "kappa", "eodds", "eopp0", "eopp1",
    "eodds_nd", "eopp0_nd", "eopp1_nd", "eodds_bc", "eopp0_bc", "eopp1_bc", "eodds_floor", "acc_gap", "f1_gap",
)


def flat_row(m: dict[str, Any]) -> dict[str, float]:
    """Scalar columns for a results table: headline metrics plus per-group accuracy, F1, macro
    FPR/FNR/PPV (over classes where defined), PPV ratio and selection-rate ratio."""
    row = {key: float(m[key]) for key in HEADLINE}
    for c in GROUPS:
        pg = m["per_group"][c]
        row[f"acc_g{c}"] = float(pg["accuracy"])
        row[f"f1_g{c}"] = float(pg["f1_macro"])
        row[f"ppv_g{c}"] = float(pg["ppv_macro"])
        row[f"ppv_ratio_g{c}"] = float(pg["ppv_ratio"])
        row[f"sel_ratio_g{c}"] = float(pg["selection_rate_ratio"])
        for rate in ("fpr", "fnr"):
            vals = [v for v in pg[rate] if v is not None]
            row[f"{rate}_g{c}"] = float(np.mean(vals)) if vals else 0.0
    if m.get("auc") is not None:
        row["auc"] = float(m["auc"])
    return row


def improvement(eodds_base: float, eodds: float) -> float:
    """Fairness improvement (EOdds_base − EOdds)/EOdds_base; 0 when the base is already 0."""
    return (eodds_base - eodds) / eodds_base if eodds_base > 0 else 0.0
