"""The decision layer: verdicts, equivalence, power and the paper's magnitudes (hand-made
intervals, scipy and Monte-Carlo references), and the bias-corrected gap on simulated predictions."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from numpy.polynomial import hermite_e
from scipy import stats

from fairxbar_aihw.cli import cli
from fairxbar_aihw.metrics import compute
from fairxbar_aihw.metrics.gap_bias import _COEFFS, SWITCH, debiased_abs
from fairxbar_aihw.report import claims
from fairxbar_aihw.report.claims import CLAIMS, ClaimSettings, claim_table, comparisons, decide, vs_paper
from fairxbar_aihw.report.stats import min_detectable, t_power, tost, tost_power

# (kind, (ΔF1, half), (ΔEOdds, half), eq_eodds, eq_f1) -> verdict
DECIDE = [
    ("lowers", (0.0, 0.01), (-0.10, 0.05), False, False, "holds"),
    ("lowers", (0.0, 0.01), (0.10, 0.05), False, False, "does not hold"),
    ("lowers", (0.0, 0.01), (0.01, 0.05), True, False, "equivalent"),
    ("lowers", (0.0, 0.01), (0.01, 0.05), False, False, "undetermined"),
    ("cheap", (-0.005, 0.01), (-0.10, 0.05), False, False, "holds"),
    ("cheap", (-0.02, 0.005), (-0.10, 0.05), False, False, "does not hold"),  # F1 cost > 1 pt at 95%
    ("cheap", (-0.02, 0.05), (-0.10, 0.05), False, False, "undetermined"),  # fairer, cost unsure, mean > 1 pt
    ("cheap", (0.0, 0.01), (0.10, 0.05), False, False, "does not hold"),
    ("cheap", (0.0, 0.01), (0.0, 0.05), True, True, "equivalent"),
    ("cheap", (0.0, 0.01), (0.0, 0.05), False, True, "undetermined"),
    ("beats", (0.02, 0.01), (0.0, 0.05), False, False, "holds"),
    ("beats", (0.0, 0.01), (-0.10, 0.05), False, False, "holds"),
    ("beats", (-0.02, 0.01), (0.0, 0.05), False, False, "does not hold"),
    ("beats", (-0.02, 0.01), (-0.10, 0.05), False, False, "trade-off (fairer, less accurate)"),
    ("beats", (0.02, 0.01), (0.10, 0.05), False, False, "trade-off (less fair, more accurate)"),
    ("beats", (0.0, 0.01), (0.0, 0.05), True, True, "equivalent"),
    ("beats", (0.0, 0.01), (0.0, 0.05), True, False, "undetermined"),  # equivalence needs both metrics
    ("beats", (math.nan, 0.01), (0.0, 0.05), True, True, "undetermined"),
]


@pytest.mark.parametrize("kind,f1,eo,eq_eo,eq_f1,expected", DECIDE)
def test_decide_every_verdict(kind, f1, eo, eq_eo, eq_f1, expected):
    assert decide(kind, f1, eo, eq_eo, eq_f1) == expected


# (relative change, half), (ΔF1, half) -> verdict against the paper's −32%
PAPER = [
    ((-0.40, 0.10), (-0.002, 0.004), "reproduced"),  # [−50%, −30%] ∋ −32%, below 0, cheap
    ((-0.60, 0.05), (-0.002, 0.004), "reproduced"),  # a larger gain than the paper's still reproduces it
    ((-0.20, 0.10), (-0.002, 0.004), "ruled out"),  # [−30%, −10%]: a 32% gain is excluded
    ((+0.10, 0.05), (0.0, 0.004), "ruled out"),
    ((-0.40, 0.10), (-0.03, 0.01), "ruled out"),  # the F1 cost exceeds 1 point at 95%
    ((-0.40, 0.10), (-0.015, 0.01), "undetermined"),  # mean cost 1.5 pt but not surely > 1 pt
    ((-0.30, 0.35), (0.0, 0.004), "undetermined"),  # [−65%, +5%]: crosses zero
    ((-0.10, 0.05), (0.0, 0.004), "ruled out"),
]


@pytest.mark.parametrize("rel,f1,expected", PAPER)
def test_vs_paper_every_verdict(rel, f1, expected):
    assert vs_paper(CLAIMS["e"], rel, f1) == expected
    assert vs_paper(CLAIMS["c'"], rel, f1) == expected
    assert vs_paper(CLAIMS["b"], rel, f1) == ""  # no magnitude in the paper for this claim


def test_vs_paper_boundary_reads_as_the_issue_defines():
    # [−33%, −17%]: below zero and −32% inside: reproduced (it does not exclude the paper's gain)
    assert vs_paper(CLAIMS["e"], (-0.25, 0.08), (0.0, 0.004)) == "reproduced"
    assert vs_paper(CLAIMS["e"], (-0.25, 0.06), (0.0, 0.004)) == "ruled out"  # [−31%, −19%]


def test_comparisons_cover_each_claim_for_the_runs_methods_and_arms():
    methods = ["uniform", "FR", "FR-matched", "F+A R", "random", "F+A R [intersect]", "FR-matched [intersect]",
               "random [intersect]"]
    got = comparisons(methods, ["VA-Retrain", "Plain FT"], "F+A R")
    assert got == [
        ("a", "—", "FR", "pre-trained"),
        ("b", "F+A R", "F+A R", "FR-matched"), ("d", "F+A R", "F+A R", "random"), ("e", "F+A R", "F+A R", "pre-trained"),
        ("b", "F+A R [intersect]", "F+A R [intersect]", "FR-matched [intersect]"),
        ("d", "F+A R [intersect]", "F+A R [intersect]", "random [intersect]"),
        ("e", "F+A R [intersect]", "F+A R [intersect]", "pre-trained"),
        ("c", "F+A R", "VA-Retrain", "F+A R"), ("c", "F+A R", "VA-Retrain", "Plain FT"),
        ("c'", "F+A R", "VA-Retrain", "pre-trained")]
    assert comparisons(["uniform"], [], "F+A R") == []  # nothing to test without FR or F+A R


def test_tost_matches_two_scipy_one_sided_tests_and_the_90_percent_interval():
    rng = np.random.default_rng(3)
    for mean, margin in ((0.01, 0.1), (0.08, 0.1), (0.3, 0.1), (-0.05, 0.2)):
        v = rng.normal(mean, 0.05, size=6)
        eq, p = tost(v, margin)
        p_low = stats.ttest_1samp(v, -margin, alternative="greater").pvalue
        p_high = stats.ttest_1samp(v, margin, alternative="less").pvalue
        assert p == pytest.approx(max(p_low, p_high), rel=1e-9)
        lo, hi = stats.t.interval(0.90, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
        assert eq == (-margin < lo and hi < margin)
    assert tost([0.1], 0.5) == (False, pytest.approx(math.nan, nan_ok=True))


def test_power_and_mde_against_monte_carlo_t_tests():
    rng = np.random.default_rng(0)
    for n in (3, 5):
        mde = min_detectable(1.0, n)
        assert t_power(mde, 1.0, n) == pytest.approx(0.80, abs=1e-6)
        samples = rng.normal(mde, 1.0, size=(40000, n))
        rejected = stats.ttest_1samp(samples, 0.0, axis=1).pvalue < 0.05
        assert rejected.mean() == pytest.approx(0.80, abs=0.01)
    assert min_detectable(2.0, 5) == pytest.approx(2 * min_detectable(1.0, 5))  # scales with the spread
    assert math.isnan(min_detectable(1.0, 1)) and math.isnan(min_detectable(0.0, 4))


def test_tost_power_against_monte_carlo():
    rng = np.random.default_rng(1)
    n, sd, margin, effect = 8, 0.06, 0.1, 0.02
    samples = rng.normal(effect, sd, size=(20000, n))
    hits = np.mean([tost(s, margin)[0] for s in samples[:4000]])
    assert tost_power(effect, sd, n, margin) == pytest.approx(hits, abs=0.03)
    assert tost_power(0.15, sd, n, margin) == 0.0  # outside the margin equivalence cannot be shown


def _chips(per_seed_means: list[float], base: float = 0.5, f1: float = 0.0, chips: int = 10,
           claim: str = "e") -> pd.DataFrame:
    """Chip rows of one claims row whose per-seed means are exactly ``per_seed_means``."""
    rows = []
    spread = np.linspace(-0.01, 0.01, chips)  # zero mean: each seed's mean is exact
    for seed, m in enumerate(per_seed_means):
        for t in range(chips):
            rows.append({"seed": seed, "claim": claim, "reading": "F+A R", "comparison": "F+A R vs pre-trained",
                         "preset": "paper-variation", "intensity": 0.1, "target": 0.1, "trial": t,
                         "d_eodds": m + spread[t], "d_f1": f1 + spread[t] / 10, "base_eodds": base})
    return pd.DataFrame(rows)


def test_claim_table_rows_decide_against_the_paper_and_report_power():
    settings = ClaimSettings()
    # a gain of 40% ± a little: holds and reproduces the paper
    t, _ = claim_table(_chips([-0.20, -0.19, -0.21, -0.20]), settings)
    r = t.iloc[0]
    assert (r.verdict, r.vs_paper) == ("holds", "reproduced")
    assert r.rel_eodds == pytest.approx(-0.40) and r.to_decide == ""
    # about +0.5% ± 1.5%: equivalent to no change, and a 32% gain is ruled out
    t, _ = claim_table(_chips([0.01, -0.005, 0.004, 0.0, 0.003]), settings)
    r = t.iloc[0]
    assert (r.verdict, r.vs_paper) == ("equivalent", "ruled out")
    # noisy over 3 seeds: undetermined, with an MDE and the seeds that would decide it
    means = [-0.15, 0.05, -0.06]  # relative: −10.7% on average, outside the ±10% margin
    t, _ = claim_table(_chips(means), settings)
    r = t.iloc[0]
    assert r.verdict == "undetermined" and r.vs_paper == "undetermined"
    sd = np.std(means, ddof=1)
    assert r.mde_eodds == pytest.approx(min_detectable(sd, 3))
    assert r.seeds_goal == "detect"
    expected = next(n for n in range(2, 201) if t_power(np.mean(means), sd, n) >= 0.8)
    assert r.seeds_needed == expected and f"about {expected} seeds" in r.to_decide


def test_seeds_needed_aims_at_equivalence_inside_the_margin():
    means = [-0.02, 0.03, 0.0, 0.01]  # relative to 0.5: mean +1%, inside ±10%
    t, _ = claim_table(_chips(means), ClaimSettings())
    r = t.iloc[0]
    rel = np.array(means) / 0.5
    assert r.seeds_goal == "equivalence"
    expected = next(n for n in range(2, 201) if tost_power(rel.mean(), rel.std(ddof=1), n, 0.10) >= 0.8)
    assert r.seeds_needed == expected


# ---------------------------------------------------------------- the bias-corrected gap

def test_hermite_estimate_is_unbiased_for_the_polynomial():
    """E[σ·Σ aₖ·Heₖ(X/σ)] = σ·P(Δ/σ) for X ~ N(Δ, σ²): exact by Gauss–Hermite quadrature."""
    z, w = hermite_e.hermegauss(60)
    w = w / w.sum()
    sigma = 0.05
    for delta in (0.0, 0.02, 0.07):
        x = delta + sigma * z
        estimate = sigma * sum(a * hermite_e.hermeval(x / sigma, np.eye(k + 1)[k]) for k, a in enumerate(_COEFFS))
        poly = sigma * np.polynomial.polynomial.polyval(delta / sigma, _COEFFS)
        assert float(w @ estimate) == pytest.approx(poly, abs=1e-12)
        assert poly == pytest.approx(abs(delta), abs=0.26 * sigma)  # P's uniform error on [−2σ, 2σ]
    big = np.array([0.5, -0.4])
    np.testing.assert_array_equal(debiased_abs(big, np.full(2, 0.05)), np.abs(big))  # beyond Tσ: |Δ̂|
    assert SWITCH * 0.05 < 0.4


def test_each_term_is_biased_by_at_most_a_fifth_of_its_noise():
    """The documented bound: |E[estimate] − |Δ|| ≤ 0.21σ at every Δ, against 0.80σ for |Δ̂| at 0."""
    z = np.random.default_rng(0).standard_normal(1_000_000)
    one = np.ones_like(z)
    bias = [debiased_abs(d + z, one).mean() - d for d in np.linspace(0, 6, 25)]
    assert max(abs(b) for b in bias) < 0.21
    assert np.abs(z).mean() == pytest.approx(math.sqrt(2 / math.pi), abs=0.005)


def _simulate(acc0: list[float], acc1: list[float], per_class: int, reps: int, seed: int = 0):
    """Predictions of a K-class model whose group-g accuracy on class k is acc_g[k] (errors spread
    evenly): the raw and corrected EOdds per replicate, the floor, and the large-sample EOdds."""
    rng = np.random.default_rng(seed)
    k = len(acc0)
    probs = []
    for acc in (acc0, acc1):
        p = np.tile((1 - np.array(acc))[:, None] / (k - 1), (1, k))
        p[np.arange(k), np.arange(k)] = acc
        probs.append(p)
    y = np.repeat(np.arange(k), per_class)
    raw, bc, floor = [], [], []
    for _ in range(reps):
        preds, labels, groups = [], [], []
        for g, p in enumerate(probs):
            cum = p[y].cumsum(axis=1)
            preds.append((rng.random(len(y))[:, None] > cum).sum(axis=1))
            labels.append(y)
            groups.append(np.full(len(y), g))
        m = compute(np.concatenate(labels), np.concatenate(preds), np.concatenate(groups))
        raw.append(m["eodds"])
        bc.append(m["eodds_bc"])
        floor.append(m["eodds_floor"])
    truth = 0.0
    for c in range(k):
        fpr = [np.mean([p[j, c] for j in range(k) if j != c]) for p in probs]
        truth += abs(probs[1][c, c] - probs[0][c, c]) + abs(fpr[1] - fpr[0])
    return np.mean(raw), np.mean(bc), np.mean(floor), truth


@pytest.mark.parametrize("acc1,label", [
    ([0.70, 0.80, 0.60, 0.75], "no gap"),
    ([0.76, 0.83, 0.67, 0.79], "small gap"),
    ([0.95, 0.95, 0.90, 0.95], "large gap"),
])
def test_corrected_eodds_is_nearly_unbiased_at_every_gap(acc1, label):
    """The demo's shape (4 classes, 150 test images per class and group): the raw EOdds is
    inflated by about the noise floor near zero; the corrected one stays within 30% of the floor
    of the large-sample value, and the floor equals the raw EOdds when there is no gap."""
    raw, bc, floor, truth = _simulate([0.70, 0.80, 0.60, 0.75], acc1, per_class=150, reps=300)
    assert abs(bc - truth) <= 0.3 * floor, (label, raw, bc, floor, truth)
    if label == "no gap":
        assert truth == 0.0 and floor == pytest.approx(raw, rel=0.08)
        assert raw - truth > 0.8 * floor  # the bias the correction removes
    if label != "large gap":
        assert abs(bc - truth) < abs(raw - truth)


def test_metrics_json_prints_the_corrected_gaps_and_floor(tmp_path):
    rng = np.random.default_rng(5)
    n = 400
    df = pd.DataFrame({"label": rng.integers(0, 3, n), "group": rng.integers(0, 2, n)})
    df["pred"] = np.where(rng.random(n) < 0.7, df["label"], rng.integers(0, 3, n))
    path = tmp_path / "preds.csv"
    df.to_csv(path, index=False)
    out = CliRunner().invoke(cli, ["metrics", str(path), "--json"])
    assert out.exit_code == 0, out.output
    m = json.loads(out.output)
    direct = compute(df["label"], df["pred"], df["group"])
    for key in ("eodds_bc", "eopp0_bc", "eopp1_bc", "eodds_floor"):
        assert m[key] == pytest.approx(direct[key])
    assert m["eodds_floor"] > 0 and m["eodds_bc"] < m["eodds"]
    table = CliRunner().invoke(cli, ["metrics", str(path)])
    assert "eodds_bc" in table.output and "eodds_floor" in table.output


def test_claims_fall_back_to_raw_eodds_for_rows_stored_before_the_correction():
    old = pd.DataFrame([{"kind": "baseline", "eodds": 0.5}, {"kind": "sweep", "eodds": 0.4}])
    new = old.assign(eodds_bc=[0.3, 0.2])
    assert claims.gap_metric({0: old}, "eodds_bc") == "eodds"
    assert claims.gap_metric({0: new, 1: old}, "eodds_bc") == "eodds"
    assert claims.gap_metric({0: new}, "eodds_bc") == "eodds_bc"
    assert claims.gap_metric({0: new}, "eodds") == "eodds"
