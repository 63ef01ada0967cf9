"""Summary statistics for reports: means with 95% t-intervals, paired method comparisons, the
interval over training seeds, Holm's adjustment (Holm, Scand. J. Statist. 1979) and two one-sided tests
(Schuirmann, J. Pharmacokinet. Biopharm. 1987). Critical values and p-values come from scipy."""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pandas as pd


@functools.lru_cache(maxsize=None)
def t_crit(df: int, alpha: float = 0.05) -> float:
    """Two-sided (1 − ``alpha``) Student-t critical value (scipy.stats); cached: a report asks for
    the same few degrees of freedom thousands of times."""
    if df < 1:
        return math.nan
    from scipy import stats

    return float(stats.t.ppf(1 - alpha / 2, df))


def mean_ci(values: np.ndarray | pd.Series, alpha: float = 0.05) -> tuple[float, float]:
    """(mean, half-width of the two-sided (1 − ``alpha``) t-interval, n − 1 degrees of freedom);
    half-width 0 for a single value."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        return float(v[0]), 0.0
    return float(v.mean()), float(t_crit(v.size - 1, alpha) * v.std(ddof=1) / math.sqrt(v.size))


def summarise(df: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Per group of ``by``: n, and mean / ci for each metric."""
    rows = []
    for key, part in df.groupby(by, dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(by, key))
        row["n"] = len(part)
        for m in metrics:
            row[m], row[f"{m}_ci"] = mean_ci(part[m])
        rows.append(row)
    return pd.DataFrame(rows)


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> tuple[float, float, int]:
    """Mean and CI of (a − b) over trials present in both (same chip seeds)."""
    merged = a[["trial", metric]].merge(b[["trial", metric]], on="trial", suffixes=("_a", "_b"))
    mean, ci = mean_ci(merged[f"{metric}_a"] - merged[f"{metric}_b"])
    return mean, ci, len(merged)


def paired_comparison(a: pd.DataFrame, b: pd.DataFrame, f1_metric: str = "f1_micro") -> dict[str, Any]:
    """A − B over identical chips: ΔF1 and ΔEOdds with their 95% CIs, and the verdict for A.

    ``f1_metric`` defaults to the paper's F1 (eq. 3: TP/FP/FN pooled over classes and groups);
    the tables keep macro-F1 beside it.
    """
    f1 = paired_difference(a, b, f1_metric)
    eo = paired_difference(a, b, "eodds")
    return {"d_f1": f1[0], "d_f1_ci": f1[1], "d_eodds": eo[0], "d_eodds_ci": eo[1], "chips": f1[2],
            "verdict": verdict(f1[:2], eo[:2])}


def verdict(d_f1: tuple[float, float], d_eodds: tuple[float, float]) -> str:
    """Plain-language comparison from paired ΔF1 and ΔEOdds (mean, CI half-width) of A − B.

    'better' = A lowers EOdds or raises F1 significantly and is significantly worse at neither.
    """
    f1_up = d_f1[0] - d_f1[1] > 0
    f1_down = d_f1[0] + d_f1[1] < 0
    eo_down = d_eodds[0] + d_eodds[1] < 0
    eo_up = d_eodds[0] - d_eodds[1] > 0
    if (f1_up or eo_down) and not (f1_down or eo_up):
        return "better"
    if (f1_down or eo_up) and not (f1_up or eo_down):
        return "worse"
    if not (f1_up or f1_down or eo_up or eo_down):
        return "no significant difference"
    return "trade-off (" + ("fairer" if eo_down else "less fair") + ", " + (
        "more accurate" if f1_up else "less accurate") + ")"


def across_seeds(values: np.ndarray | pd.Series | list[float]) -> tuple[float, float, float]:
    """Mean of per-seed values, 95% t half-width over seeds (n − 1 degrees of freedom) and the
    two-sided one-sample t-test p-value against 0.

    Why a t-interval over per-seed means rather than a bootstrap over seeds and chips: each seed's
    mean over its chips is one replicate of the whole experiment, so the seeds are the units; the
    chip noise is already inside each per-seed mean. With three to five seeds a bootstrap over
    seeds has only 10 to 126 distinct resamples and its percentile interval is too narrow, while
    the t-interval is exact for normal per-seed means and honest about having few of them.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    if v.size == 1:
        return float(v[0]), math.nan, math.nan
    mean, half = mean_ci(v)
    sd = v.std(ddof=1)
    if sd == 0:
        return mean, 0.0, (1.0 if mean == 0 else 0.0)
    return mean, half, t_test_p(v)


def t_test_p(values: np.ndarray) -> float:
    """Two-sided one-sample t-test p-value against 0. Values that differ only in their last digits
    (chips of a setting that touches almost no weight) make scipy warn of precision loss on every
    report; the p-value is still the test's, so the warning is not passed on."""
    import warnings

    from scipy import stats

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        return float(stats.ttest_1samp(np.asarray(values, dtype=np.float64), 0.0).pvalue)


def holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaN entries are not tests and stay NaN)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


# ---------------------------------------------------------------- equivalence and power
ALPHA = 0.05
POWER = 0.80
MAX_SEEDS = 200  # seeds_needed beyond this is reported as "more than 200"


def tost(values: np.ndarray | pd.Series | list[float], margin: float) -> tuple[bool, float]:
    """Two one-sided t-tests (Schuirmann 1987) of |mean| < ``margin``: (equivalent at 5%, p).

    Equivalent exactly when the 90% t-interval lies inside (−margin, +margin); p is the larger of
    the two one-sided p-values. NaN p (and not equivalent) with fewer than two finite values.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size < 2 or not margin > 0:
        return False, math.nan
    sd = v.std(ddof=1)
    if sd == 0:
        inside = abs(float(v.mean())) < margin
        return inside, (0.0 if inside else 1.0)
    from scipy import stats

    se = sd / math.sqrt(v.size)
    df = v.size - 1
    p_low = float(stats.t.sf((v.mean() + margin) / se, df))  # H0: mean ≤ −margin
    p_high = float(stats.t.cdf((v.mean() - margin) / se, df))  # H0: mean ≥ +margin
    p = max(p_low, p_high)
    return p < ALPHA, p


def t_power(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided one-sample t-test at ``alpha`` for a true mean ``effect`` (noncentral t)."""
    if n < 2 or not sd > 0:
        return math.nan
    from scipy import stats

    df = n - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = abs(effect) * math.sqrt(n) / sd
    # scipy's noncentral t returns NaN far in a tail, where that tail's probability is 0 (or 1)
    upper = float(stats.nct.sf(crit, df, nc))
    lower = float(stats.nct.cdf(-crit, df, nc))
    upper = (1.0 if nc > crit else 0.0) if math.isnan(upper) else upper
    return upper + (0.0 if math.isnan(lower) else lower)


def min_detectable(sd: float, n: int, alpha: float = ALPHA) -> float:
    """Smallest |mean| the two-sided t-test at ``alpha`` over ``n`` replicates detects with 80%
    power, at between-replicate standard deviation ``sd`` (solved on the noncentral t)."""
    if n < 2 or not sd > 0:
        return math.nan
    from scipy import optimize

    hi = sd
    while t_power(hi, sd, n, alpha) < POWER:
        hi *= 2
    return float(optimize.brentq(lambda d: t_power(d, sd, n, alpha) - POWER, 0.0, hi, xtol=1e-10 * sd))


def one_sided_power(effect: float, sd: float, n: int, alpha: float = ALPHA / 2) -> float:
    """Power of the one-sided t-test of mean > 0 at ``alpha`` when the true mean is ``effect``
    (noncentral t): how often a one-sided bound lands on the right side of zero."""
    if n < 2 or not sd > 0:
        return math.nan
    from scipy import stats

    df = n - 1
    power = float(stats.nct.sf(stats.t.ppf(1 - alpha, df), df, effect * math.sqrt(n) / sd))
    return (1.0 if effect > 0 else 0.0) if math.isnan(power) else power


def tost_power(effect: float, sd: float, n: int, margin: float, alpha: float = ALPHA) -> float:
    """Power of the TOST at ``alpha`` with margin ±``margin`` at true mean ``effect`` (noncentral t;
    the usual approximation P(reject low) + P(reject high) − 1, floored at 0)."""
    if n < 2 or not sd > 0 or abs(effect) >= margin:
        return 0.0 if n >= 2 and sd > 0 else math.nan
    from scipy import stats

    df = n - 1
    crit = stats.t.ppf(1 - alpha, df)
    se = sd / math.sqrt(n)
    low = float(stats.nct.sf(crit, df, (effect + margin) / se))
    high = float(stats.nct.cdf(-crit, df, (effect - margin) / se))
    low = 1.0 if math.isnan(low) else low  # NaN only far in the tail, where rejection is certain
    high = 1.0 if math.isnan(high) else high
    return max(0.0, low + high - 1.0)


def replicates_needed(power_at: Any) -> float:
    """Smallest n in 2..MAX_SEEDS with ``power_at(n)`` ≥ 80%; inf beyond MAX_SEEDS, NaN if unknown."""
    if math.isnan(power_at(2)):
        return math.nan
    for n in range(2, MAX_SEEDS + 1):
        if power_at(n) >= POWER:
            return float(n)
    return math.inf


# ---------------------------------------------------------------- a ratio of two means
def ratio_t(d: np.ndarray, b: np.ndarray, r0: float, base_var: float = 0.0) -> tuple[float, int]:
    """The t statistic of H0: mean(d) / mean(b) = ``r0`` on the absolute scale, and its degrees of
    freedom: (mean(d) − r0·mean(b)) / se, where se² is the variance of the mean of the paired
    values d − r0·b (n − 1 df), plus r0²·``base_var`` when the base is one reading whose own
    sampling variance is known from elsewhere (a single seed's test-set bootstrap).

    This is the pivot behind Fieller's interval (Fieller, J. R. Statist. Soc. B 1954): the set
    of r0 whose |t| stays under the critical value."""
    d = np.asarray(d, dtype=np.float64)
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), d.shape)
    z = d - r0 * b
    n = z.size
    var = (z.var(ddof=1) / n if n >= 2 else 0.0) + r0 * r0 * base_var
    if n < 2 or not var > 0:
        return math.nan, n - 1
    return float(z.mean() / math.sqrt(var)), n - 1


def ratio_interval(d: np.ndarray, b: np.ndarray, alpha: float = ALPHA,
                   base_var: float = 0.0) -> tuple[float, float, float]:
    """(mean(d) / mean(b), lower, upper): Fieller's two-sided (1 − ``alpha``) interval for a ratio
    of two means from paired replicates (d_i, b_i), or with one fixed base of known variance
    ``base_var``. Why not a mean of per-replicate ratios d_i / b_i: a replicate whose base is near
    or below zero would dominate or be dropped, and a noisy base sitting in both numerator and
    denominator biases the mean of ratios (regression to the mean). The interval is unbounded
    (±inf) when the base itself is not distinguishable from zero at this level; NaN with fewer
    than two replicates (unless ``base_var`` carries the base's uncertainty and the chips are many)."""
    d = np.asarray(d, dtype=np.float64)
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), d.shape)
    n = d.size
    if n < 2:
        return math.nan, math.nan, math.nan
    md, mb = float(d.mean()), float(b.mean())
    ratio = md / mb if mb != 0 else math.nan
    t2 = t_crit(n - 1, alpha) ** 2
    s_dd = d.var(ddof=1) / n
    s_bb = b.var(ddof=1) / n + base_var
    s_db = float(np.cov(d, b, ddof=1)[0, 1]) / n if n >= 2 else 0.0
    # (md − r·mb)² ≤ t² (s_dd − 2 r s_db + r² s_bb)  ⇔  A r² − 2 B r + C ≤ 0
    a_ = mb * mb - t2 * s_bb
    b_ = md * mb - t2 * s_db
    c_ = md * md - t2 * s_dd
    disc = b_ * b_ - a_ * c_
    if a_ <= 0:  # the base is not shown to differ from zero: no bounded interval
        return ratio, -math.inf, math.inf
    if disc < 0:  # cannot happen with a_ > 0 and a consistent covariance; guard rounding
        disc = 0.0
    root = math.sqrt(disc)
    return ratio, (b_ - root) / a_, (b_ + root) / a_


def ratio_p(d: np.ndarray, b: np.ndarray, r0: float, side: str, base_var: float = 0.0) -> float:
    """One-sided p-value of the ratio against ``r0``: side "below" tests H1 ratio < r0, "above"
    H1 ratio > r0 (for a positive base), from ``ratio_t``."""
    from scipy import stats

    t, df = ratio_t(d, b, r0, base_var)
    if math.isnan(t):
        return math.nan
    return float(stats.t.cdf(t, df) if side == "below" else stats.t.sf(t, df))
