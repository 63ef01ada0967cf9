"""Seeds inside a study: one run folder, resume per seed, and claims judged across seeds — the
numbers checked against scipy on the database's own rows."""
import json
import math
import sqlite3

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from fairxbar_aihw.metrics import compute
from fairxbar_aihw.metrics.bootstrap import stratified_bootstrap, strata
from fairxbar_aihw.report.stats import across_seeds, holm, t_crit
from test_study import TINY, _cli

SEEDS_STUDY = {**TINY, "seeds": [0, 1], "sweep": {**TINY["sweep"], "trials": 3}}


def _rows(db: object) -> dict[str, pd.DataFrame]:
    """Each run's trial rows, keyed by the run's seed (from its stored config)."""
    with sqlite3.connect(db) as conn:
        runs = pd.read_sql_query("SELECT run_id, config_json FROM runs", conn)
        df = pd.read_sql_query("SELECT run_id, cell, trial, data_json FROM trials", conn)
    data = pd.DataFrame([json.loads(s) for s in df.data_json])
    df = pd.concat([df[["run_id", "cell", "trial"]], data], axis=1)
    seed_of = {r.run_id: json.loads(r.config_json)["seed"] for r in runs.itertuples()}
    return {seed_of[r]: part for r, part in df.groupby("run_id")}


def test_seeds_share_one_run_resume_per_seed_and_claims_match_scipy(tmp_path):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "tiny.yaml").write_text(yaml.safe_dump(SEEDS_STUDY))
    _cli(tmp_path, "study", "tiny", "--no-progress")  # the file's seeds: 0 and 1
    db = tmp_path / "runs" / "tiny" / "results.sqlite"
    before = _rows(db)
    assert sorted(before) == [0, 1]
    # a third seed extends the same run; seeds 0 and 1 do no new work
    out = _cli(tmp_path, "study", "tiny", "--seeds", "0,1,2", "--no-progress")
    assert out.stdout.strip().endswith("reports/tiny/README.md")
    after = _rows(db)
    assert sorted(after) == [0, 1, 2]
    for s in (0, 1):
        pd.testing.assert_frame_equal(before[s].reset_index(drop=True), after[s].reset_index(drop=True))
    assert sorted(p.name for p in (tmp_path / "runs" / "tiny").iterdir() if p.is_dir()) == ["seed-0", "seed-1",
                                                                                            "seed-2"]
    assert _cli(tmp_path, "inject", "tiny", "--seeds", "0,1,2", "--no-progress").stdout.startswith("0 chips run")
    base = {s: df[df.kind == "baseline"].iloc[0] for s, df in after.items()}
    assert len({round(b["f1_macro"], 6) for b in base.values()}) > 1  # the seeds are real replicates

    report = tmp_path / "reports" / "tiny"
    text = (report / "README.md").read_text()
    assert "across 3 training seeds" in text and "SYNTHETIC" in text and "Produced on" in text
    assert text.index("## The paper's claims") < text.index("## Pre-trained models")
    # the compute line sums the seeds' stage timings, as recorded in each seed's run
    with sqlite3.connect(db) as conn:
        stages = [sum(json.loads(v).values()) for (v,) in conn.execute("SELECT value_json FROM meta WHERE key = 'timings'")]
    assert len(stages) == 3 and f"summed over the seeds: {sum(stages):,.0f} s" in text
    assert (report / "fig_claims_forest.png").stat().st_size > 5000
    for s in (0, 1, 2):
        seed_text = (report / f"seed-{s}" / "README.md").read_text()
        assert "**One training seed**" in seed_text and "Produced on" in seed_text

    # claim (d), F+A R vs random: per seed the paired chip mean, then a t-interval over seeds
    table = pd.read_csv(report / "claims.csv")
    row = table[(table.claim == "d") & (table.comparison == "F+A R vs random")].iloc[0]
    assert row.gap == "eodds_bc"  # the default: claims judged on the bias-corrected gap
    per_seed, per_seed_f1 = [], []
    for s, df in sorted(after.items()):
        sweep = df[df.kind == "sweep"]
        a = sweep[sweep.method == "F+A R"].set_index("trial")
        b = sweep[sweep.method == "random"].set_index("trial")
        per_seed.append(float((a["eodds_bc"] - b["eodds_bc"]).mean()))
        per_seed_f1.append(float((a["f1_micro"] - b["f1_micro"]).mean()))
    lo, hi = stats.t.interval(0.95, df=2, loc=np.mean(per_seed), scale=stats.sem(per_seed))
    assert row.d_eodds == pytest.approx(np.mean(per_seed), abs=1e-6)
    assert row.d_eodds_ci == pytest.approx((hi - lo) / 2, rel=1e-5)
    assert row.d_f1 == pytest.approx(np.mean(per_seed_f1), abs=1e-6)
    # a "beats" row's test: the smaller of the ΔEOdds and ΔF1 p-values, doubled
    p_eo, p_f1 = (stats.ttest_1samp(v, 0.0).pvalue for v in (per_seed, per_seed_f1))
    assert row.p == pytest.approx(min(1.0, 2 * min(p_eo, p_f1)), rel=1e-5)
    assert f"{row.d_eodds:+.3f} ± {row.d_eodds_ci:.3f}" in text
    # Holm within each family (claim × scope), by hand: sorted p times (m − rank), running maximum
    for _, family in table.groupby(["claim", "scope"]):
        p = family.p.to_numpy()
        order = np.argsort(p)
        m = int(np.isfinite(p).sum())
        expected = np.maximum.accumulate([min(1.0, (m - k) * p[i]) for k, i in enumerate(order)])
        np.testing.assert_allclose(family.p_family.to_numpy()[order], expected, rtol=1e-5)
        assert (family.family_size == m).all()

    # the test-set bootstrap shown for each seed's model is the one stored with it
    with sqlite3.connect(db) as conn:
        metas = pd.read_sql_query("SELECT run_id, key, value_json FROM meta WHERE key='baseline'", conn)
    boot = [json.loads(v)["test_bootstrap"] for v in metas.value_json]
    assert all(b["resamples"] == 1000 and b["eodds"][0] <= b["eodds"][1] for b in boot)
    assert any(f"[{b['eodds'][0]:.3f}, {b['eodds'][1]:.3f}]" in text for b in boot)

    # the old command is an alias; bad seeds are one line
    alias = _cli(tmp_path, "seeds", "tiny", "--seeds", "0,1,2", "--no-progress")
    assert alias.stdout.strip().endswith("reports/tiny/README.md")
    missing = _cli(tmp_path, "report", "tiny", "--seeds", "7", check=False)  # read-only: names the fix
    assert missing.returncode == 2 and "no results for seed 7" in missing.stderr and "--seeds 7" in missing.stderr
    for bad in ("0,x", "1,1", "-1"):
        out = _cli(tmp_path, "study", "tiny", "--seeds", bad, check=False)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--seeds" in out.stderr, out.stderr


def test_across_seed_interval_and_holm_match_scipy():
    v = [0.12, -0.03, 0.07, 0.02]
    mean, half, p = across_seeds(v)
    lo, hi = stats.t.interval(0.95, df=3, loc=np.mean(v), scale=stats.sem(v))
    assert (mean, half) == pytest.approx((np.mean(v), (hi - lo) / 2), rel=1e-12)
    assert p == pytest.approx(stats.ttest_1samp(v, 0.0).pvalue, rel=1e-12)
    assert t_crit(2) == pytest.approx(4.302652729749464) and t_crit(14) == pytest.approx(stats.t.ppf(0.975, 14))
    assert math.isnan(across_seeds([0.3])[1])  # one seed: no interval over seeds
    # Holm on a textbook case: p = .01, .04, .03, .005 with m = 4
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    assert math.isnan(holm([0.2, float("nan")])[1])


def _toy_predictions(n: int = 600, seed: int = 3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    g = rng.integers(0, 2, n)
    right = rng.random(n) < np.where(g == 1, 0.85, 0.7)  # group 1 is served better
    return y, np.where(right, y, (y + 1 + rng.integers(0, 2, n)) % 3), g


def test_stratified_bootstrap_matches_scipy_and_the_closed_form():
    y, p, g = _toy_predictions()
    ours = stratified_bootstrap(y, p, g, 3, resamples=2000, seed=1)
    parts = strata(y, g)
    assert sum(len(s) for s in parts) == len(y) and len(parts) == 6

    def statistic(key):
        def f(*samples):
            idx = np.concatenate(samples).astype(int)
            return compute(y[idx], p[idx], g[idx], num_classes=3)[key]
        return f

    for key in ("eodds", "f1_macro"):
        ref = stats.bootstrap(tuple(parts), statistic(key), vectorized=False, n_resamples=2000, method="percentile",
                              random_state=np.random.default_rng(7)).confidence_interval
        width = ref.high - ref.low
        assert abs(ours[key][0] - ref.low) < 0.15 * width and abs(ours[key][1] - ref.high) < 0.15 * width
    # pooled accuracy under stratified resampling: Var = Σ_h (n_h/n)² p_h(1 − p_h)/n_h
    n = len(y)
    var = sum((len(s) / n) ** 2 * (y[s] == p[s]).mean() * (1 - (y[s] == p[s]).mean()) / len(s) for s in parts)
    half = 1.959964 * math.sqrt(var)
    lo, hi = ours["accuracy"]
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.12)
    assert lo < (y == p).mean() < hi


def test_run_ids_of_the_demo_stay_put():
    """A run id is the hash of what its rows depend on; adding an optional key to the config must not
    change it, or every existing run would be recomputed (these are the committed demo's run ids)."""
    from fairxbar_aihw.store import config_hash
    from fairxbar_aihw.study import load_study
    from fairxbar_aihw.study.stored import run_config_for_hash

    ids = [config_hash(run_config_for_hash(load_study("demo").for_seed(s))) for s in (0, 1, 2)]
    assert ids == ["8131751f900cd262", "a3e781a2f6f52218", "fc8d5dff2242518e"]


def test_every_derived_seed_is_the_one_stored_runs_were_made_with():
    """Each seed derivation of rng.py against its value before the derivations moved there (issue
    22): a changed formula would give a resumed run other chips, probes or batches than its rows."""
    from fairxbar_aihw import rng

    chip = rng.chip_seed(3, "paper-variation", 0.1, 7)
    assert chip == 199615994
    assert rng.chip_seed(0, "ideal", 0.0, 0) == 435008983 and rng.chip_seed(2**40, "pcm-ibm", 0.0, 99) == 894575143
    assert rng.read_seed(chip, None) == 199616592847989 and rng.read_seed(chip, 3600.0) == 199616592851589
    assert rng.read_seed(2**31 - 1, 315360000.0) == 2147490404810948
    assert rng.drift_seed(chip, 86400.0) == 199616592934382 and rng.drift_seed(chip, 0.0) == 199616592847982
    assert rng.drift_seed(2**31 - 1, 315360000.0) == 2147490089809996
    assert [rng.curvature_seed(5, g) for g in (0, 1)] == [5, 7924]
    assert rng.saliency_batches_seed(5) == 22
    assert rng.arm_batch_seed(4, "va") == 177349253 and rng.arm_refresh_seed(4, "va", 6) == 1759819303
    assert [rng.validation_chip_seed(4, k) for k in range(2)] == [1614101792, 1529985960]
