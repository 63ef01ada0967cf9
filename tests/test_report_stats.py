"""The statistics behind every verdict: intervals against scipy, verdict rules on constructed cases."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fairxbar_aihw.report.stats import mean_ci, paired_difference, summarise, verdict


@pytest.mark.parametrize("n", [2, 3, 5, 12, 30, 100])
def test_mean_ci_is_scipys_t_interval(n):
    """Exactly scipy's t interval (a normal approximation is 35% too narrow at n = 3, 1.5% at n = 100)."""
    v = np.random.default_rng(n).normal(1.0, 2.0, n)
    mean, half = mean_ci(v)
    lo, hi = stats.t.interval(0.95, n - 1, loc=v.mean(), scale=stats.sem(v))
    assert mean == pytest.approx(v.mean(), rel=1e-12)
    assert half == pytest.approx((hi - lo) / 2, rel=1e-9)


@pytest.mark.parametrize("n,t975", [
    (2, math.tan(math.pi * 0.475)),                   # Student t, 1 df: the Cauchy quantile tan(π(p − ½))
    (3, 0.95 / math.sqrt(2 * 0.975 * 0.025)),         # 2 df: (2p − 1) / √(2p(1 − p))
])
def test_mean_ci_half_width_has_the_closed_form_t_quantile(n, t975):
    v = np.arange(n, dtype=float) ** 2
    assert mean_ci(v)[1] == pytest.approx(t975 * v.std(ddof=1) / math.sqrt(n), rel=1e-12)


def test_mean_ci_edge_cases():
    assert mean_ci([3.0]) == (3.0, 0.0)
    assert all(math.isnan(x) for x in mean_ci([]))
    assert mean_ci([1.0, np.nan, 3.0])[0] == 2.0  # NaNs are dropped, not propagated


def test_paired_difference_pairs_by_trial_not_position():
    a = pd.DataFrame({"trial": [0, 1, 2, 3], "eodds": [1.0, 2.0, 3.0, 4.0]})
    b = pd.DataFrame({"trial": [3, 2, 1, 0], "eodds": [3.5, 2.5, 1.5, 0.5]})  # shuffled order
    mean, half, n = paired_difference(a, b, "eodds")
    assert n == 4 and mean == pytest.approx(0.5) and half == pytest.approx(0.0)
    short = paired_difference(a, b[b["trial"] < 2], "eodds")
    assert short[2] == 2  # only chips present in both count


@pytest.mark.parametrize("d_f1,d_eo,expected", [
    ((0.02, 0.01), (-0.05, 0.01), "better"),               # more accurate and fairer
    ((0.00, 0.01), (-0.05, 0.01), "better"),               # fairer, accuracy unchanged
    ((-0.02, 0.01), (0.00, 0.01), "worse"),                # less accurate, fairness unchanged
    ((0.00, 0.01), (0.00, 0.01), "no significant difference"),
    ((-0.02, 0.01), (-0.05, 0.01), "trade-off (fairer, less accurate)"),
    ((0.02, 0.01), (0.05, 0.01), "trade-off (less fair, more accurate)"),
])
def test_verdict_rules(d_f1, d_eo, expected):
    assert verdict(d_f1, d_eo) == expected


def test_summarise_groups_and_intervals():
    df = pd.DataFrame({"m": ["a", "a", "a", "b", "b"], "x": [1.0, 2.0, 3.0, 5.0, 7.0]})
    s = summarise(df, ["m"], ["x"]).set_index("m")
    assert s.loc["a", "n"] == 3 and s.loc["a", "x"] == 2.0
    assert s.loc["b", "x_ci"] == pytest.approx(stats.t.ppf(0.975, 1) * stats.sem([5.0, 7.0]), rel=0.02)


def test_figures_draw_every_label_in_registry_order():
    from fairxbar_aihw.report.styles import color, ordered

    labels = ["My new arm", "F+A R [intersect]", "VA-Retrain", "F+A R", "uniform", "FR-matched"]
    assert ordered(labels) == ["uniform", "FR-matched", "F+A R", "F+A R [intersect]", "VA-Retrain", "My new arm"]
    assert color("F+A R [intersect]") != color("F+A R")  # another reading: another shade
    assert color("My new arm").startswith("#") and color("My new arm") == color("My new arm")
    registered = {color(m) for m in ("uniform", "random", "FR", "FR-matched", "F+A R", "VA-Retrain", "Plain FT")}
    assert len(registered) == 7 and color("My new arm") not in registered


def test_t_test_p_matches_scipy_and_stays_quiet_on_nearly_equal_values():
    import warnings

    from scipy import stats

    from fairxbar_aihw.report.stats import t_test_p

    v = np.array([0.3, 0.1, 0.25, 0.4])
    assert t_test_p(v) == pytest.approx(stats.ttest_1samp(v, 0.0).pvalue, rel=1e-12)
    nearly = np.array([0.5, 0.5 + 1e-16, 0.5, 0.5 - 1e-16, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        p = t_test_p(nearly)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expected = stats.ttest_1samp(nearly, 0.0).pvalue
    assert any("Precision loss" in str(w.message) for w in caught)  # scipy itself warns here
    assert p == pytest.approx(expected, rel=1e-12, nan_ok=True)
