"""The bias-corrected gap on simulated predictions (the decision rules themselves are tested in
tests/test_verdicts.py)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from numpy.polynomial import hermite_e

from fairxbar_aihw.cli import cli
from fairxbar_aihw.metrics import compute
from fairxbar_aihw.metrics.gap_bias import _COEFFS, SWITCH, _rate_and_sd, debiased_abs


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
    """The design model's bound (Δ̂ Gaussian, σ known): |E[estimate] − |Δ|| ≤ 0.21σ at every Δ, against 0.80σ
    for |Δ̂| at 0 (with binomial counts and σ̂: the test above)."""
    z = np.random.default_rng(0).standard_normal(1_000_000)
    one = np.ones_like(z)
    bias = [debiased_abs(d + z, one).mean() - d for d in np.linspace(0, 6, 25)]
    assert max(abs(b) for b in bias) < 0.21
    assert np.abs(z).mean() == pytest.approx(math.sqrt(2 / math.pi), abs=0.005)


def test_term_bias_with_binomial_counts_is_the_measured_one():
    """The user guide's bounds off the Gaussian model (benchmarks/gap_bias_bounds.py): exact over
    the binomial counts with the plug-in σ̂, one point of them checked by plain Monte Carlo."""
    from benchmarks.gap_bias_bounds import binomial_term

    r = binomial_term(450, 0.1)  # an FPR term of the demo's shape: expected count 45
    assert -0.22 < r["min"] and r["max"] < 0.22 and 0.40 < r["max"] - r["min"] < 0.43
    assert binomial_term(150, 0.5)["raw_max"] == pytest.approx(math.sqrt(2 / math.pi), abs=0.01)
    assert -0.30 < binomial_term(150, 0.02)["min"] < -0.27  # expected count 3
    rare = binomial_term(15, 0.05)  # expected count 0.75: no better than the raw gap
    assert rare["min"] < -0.8 and rare["raw_max"] < 0.75
    exact = binomial_term(150, 0.02, steps=np.array([0.0]))["max"]
    rng = np.random.default_rng(0)
    x = rng.binomial(150, 0.02, size=(2, 400_000)).astype(np.float64)
    rate, sd = _rate_and_sd(x, np.full_like(x, 150.0))
    estimate = debiased_abs(rate[1] - rate[0], np.hypot(sd[0], sd[1]))
    assert estimate.mean() / math.sqrt(2 * 0.02 * 0.98 / 150) == pytest.approx(exact, abs=0.01)


def test_one_vs_rest_fpr_sigma_is_too_large_when_confusions_concentrate():
    """The binomial σ̂ of a one-vs-rest FPR against its exact σ over a test set with fixed rows per
    class: right when errors spread, too large when each class's errors go to one other class."""
    from benchmarks.gap_bias_bounds import confusion_probs, draw, exact_fpr_sd, fpr_parts

    rng = np.random.default_rng(0)
    # accuracy 0.7, 4 classes, 150 rows each: FPR 0.1 over 450 negatives (binomial variance 450·0.1·0.9) against,
    # concentrated, one class's 150·0.3·0.7
    for concentrated, ratio in ((False, 1.0), (True, math.sqrt(450 * 0.1 * 0.9 / (150 * 0.3 * 0.7)))):
        probs = confusion_probs([0.7] * 4, concentrated)
        fpr, sd, stratified = fpr_parts(draw(rng, probs[None], 150, 2000)[:, 0])
        exact = exact_fpr_sd(probs, 150)
        assert fpr.std(axis=0) == pytest.approx(exact, rel=0.07)  # the exact σ is the Monte-Carlo one
        assert (sd / exact).mean() == pytest.approx(ratio, abs=0.015)
        assert (stratified / exact).mean() == pytest.approx(1.0, abs=0.015)


def test_a_small_real_gap_reads_low_and_the_raw_one_high():
    """The documented small gap: 4 classes, 150 rows per class and group, accuracies 0.81 vs 0.85:
    EOdds_bc about 25% under the large-sample EOdds, raw about 21% over (full run: the benchmark)."""
    from benchmarks.gap_bias_bounds import confusion_probs, draw, large_sample_eodds, raw_eodds
    from fairxbar_aihw.metrics.gap_bias import corrected_gaps

    probs = np.stack([confusion_probs([0.81] * 4, False), confusion_probs([0.85] * 4, False)])
    confs = draw(np.random.default_rng(1), probs, 150, 400)
    truth = large_sample_eodds(probs)
    assert truth == pytest.approx(4 * 0.04 + 4 * 0.04 / 3)
    bc = np.mean([corrected_gaps(c)["eodds_bc"] for c in confs]) / truth - 1
    raw = np.mean([raw_eodds(c) for c in confs]) / truth - 1
    assert -0.33 < bc < -0.17 and 0.15 < raw < 0.27


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
