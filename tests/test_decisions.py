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
from fairxbar_aihw.metrics.gap_bias import _COEFFS, SWITCH, debiased_abs


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
