"""Fairness across the chip population: yield with its exact interval, percentiles, the worst chip,
the spec settings, churn against the digital model, and the report sections built from them."""
import copy

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
import yaml
from scipy.stats import binomtest
from scipy.stats import t as student_t

from fairxbar_aihw.report import population
from fairxbar_aihw.study.schema import YieldSpecSection

CELL = {"preset": "pcm-ibm", "intensity": 1.0, "method": "uniform", "target": np.nan}


def _frame(eodds, f1, base_eodds=0.10, base_f1=0.80, **cell) -> pd.DataFrame:
    """A run's rows by hand: the digital baseline and one chip row per (eodds, f1)."""
    rows = [{"kind": "baseline", "preset": "ideal", "intensity": np.nan, "method": "none", "target": np.nan,
             "eodds": base_eodds, "eodds_bc": base_eodds / 2, "f1_micro": base_f1, "acc_g0": 0.7, "acc_g1": 0.9}]
    rng = np.random.default_rng(len(eodds))
    for t, (e, f) in enumerate(zip(eodds, f1)):
        rows.append({"kind": "sweep", **{**CELL, **cell}, "trial": t, "eodds": e, "eodds_bc": e / 2, "f1_micro": f,
                     "acc_g0": rng.uniform(0.5, 0.8), "acc_g1": rng.uniform(0.7, 1.0),
                     "churn_g0": rng.uniform(0, 0.3), "churn_g1": rng.uniform(0, 0.2), "churn": rng.uniform(0, .2)})
    return pd.DataFrame(rows)


RAW = YieldSpecSection(gap="eodds")  # the spec on raw EOdds, as set explicitly in a study


def _table(frames, spec=RAW):
    return population.summary(population.judge(frames, spec, population.spec_gap(spec)))


# 20 chips: 12 meet the default spec; 3 fail on the gap, 3 on F1, 2 on both
EODDS = [0.10] * 6 + [0.15] * 3 + [0.12] * 3 + [0.16] * 3 + [0.14] * 3 + [0.30] * 2
F1 = [0.80] * 6 + [0.795] * 3 + [0.79] * 3 + [0.80] * 3 + [0.70] * 3 + [0.60] * 2


def test_yield_and_its_interval_match_scipy_binomtest():
    table = _table({0: _frame(EODDS, F1)})
    assert len(table) == 1
    r = table.iloc[0]
    assert (r["chips"], r["meet"]) == (20, 12)  # 0.15 = 0.10 + 0.05 and 0.79 = 0.80 − 0.01 are at the limit
    ci = binomtest(12, 20).proportion_ci(confidence_level=0.95, method="exact")
    assert r["yield"] == pytest.approx(0.6)
    assert (r["yield_lo"], r["yield_hi"]) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert 0.36 < r["yield_lo"] < 0.37 and 0.80 < r["yield_hi"] < 0.82  # the textbook 12/20 interval


def test_spec_settings_change_the_yield():
    frames = {0: _frame(EODDS, F1)}
    meet = {}
    # on raw EOdds (gap set explicitly; the default follows the claims' gap, tested below)
    for key, spec in {"default": RAW, "strict gap": YieldSpecSection(gap="eodds", max_eodds_increase=0.0),
                      "loose": YieldSpecSection(gap="eodds", max_eodds_increase=1.0, max_f1_drop=1.0),
                      "strict f1": YieldSpecSection(gap="eodds", max_f1_drop=0.0),
                      "corrected": YieldSpecSection(gap="eodds_bc", max_eodds_increase=0.01)}.items():
        meet[key] = int(_table(frames, spec).iloc[0]["meet"])
    # strict gap: only eodds == 0.10 chips with F1 ≥ 0.79 (6); loose: all; strict F1: F1 == 0.80 and gap ≤ 0.15 (6)
    # corrected: eodds_bc = eodds/2 ≤ 0.05 + 0.01 → eodds ≤ 0.12, F1 ≥ 0.79: 6 + 3
    assert meet == {"default": 12, "strict gap": 6, "loose": 20, "strict f1": 6, "corrected": 9}


def test_percentiles_and_worst_chip_match_numpy():
    rng = np.random.default_rng(3)
    eodds, f1 = rng.uniform(0.05, 0.4, 37), rng.uniform(0.6, 0.85, 37)
    df = _frame(eodds, f1)
    r = _table({0: df}).iloc[0]
    chips = df[df["kind"] == "sweep"]
    for column, worst in (("eodds", max), ("eodds_bc", max), ("f1_micro", min), ("acc_g0", min), ("acc_g1", min),
                          ("churn_g0", max), ("churn_g1", max)):
        p = np.percentile(chips[column], [5, 50, 95])
        assert [r[f"{column}_p5"], r[f"{column}_p50"], r[f"{column}_p95"]] == pytest.approx(p, abs=1e-12), column
        assert r[f"{column}_worst"] == worst(chips[column]), column
    assert r["eodds_worst"] == pytest.approx(eodds.max()) and r["f1_micro_worst"] == pytest.approx(f1.min())


def test_rows_without_churn_show_n_a(tmp_path):
    df = _frame(EODDS, F1).drop(columns=["churn_g0", "churn_g1", "churn"])
    lines = population.section({0: df}, RAW, tmp_path)
    row = next(line for line in lines if line.startswith("| pcm-ibm | 1 | uniform | all |") and "/" in line
               and "%" not in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[-2:] == ["n/a", "n/a"] and cells[4] != "n/a"  # churn columns; EOdds is there
    assert "| pcm-ibm | 1 | uniform | all | 20 | 12 | 60% [36, 81] |" in lines
    assert (tmp_path / "fig_yield.png").is_file()


def test_seeds_pooled_and_per_seed_and_technologies_ranked(tmp_path):
    # seed 1's digital model is worse: the same chip values meet the spec more often against it
    seed0 = pd.concat([_frame([0.10] * 3 + [0.30], [0.8] * 4), _frame([0.3] * 4, [0.8] * 4, preset="reram-cmo",
                                                                      intensity=2.0).iloc[1:]])
    seed1 = pd.concat([_frame([0.20] * 4, [0.8] * 4, base_eodds=0.2), _frame([0.3] * 2 + [0.2] * 2, [0.8] * 4,
                       base_eodds=0.2, preset="reram-cmo", intensity=2.0).iloc[1:]])
    frames = {0: seed0, 1: seed1}
    table = _table(frames).set_index("preset")
    assert table.loc["pcm-ibm", "meet"] == 3 + 4 and table.loc["reram-cmo", "meet"] == 0 + 2
    lines = population.section(frames, RAW, tmp_path)
    text = "\n".join(lines)
    ci = binomtest(7, 8).proportion_ci(method="exact")
    # over seeds: yields 3/4 and 4/4 (mean 88%), 0/4 and 2/4 (25%); two seeds' t-interval (1 df) spans [0, 1]
    assert (f"| pcm-ibm | 1 | uniform | all | 8 | 7 | 88% [0, 100] | 88% [{100 * ci.low:.0f}, {100 * ci.high:.0f}] "
            "| 3/4, 4/4 |" in lines)
    assert "| reram-cmo | 2 | uniform | all | 8 | 2 | 25% [0, 100] | 25% [3, 65] | 0/4, 2/4 |" in lines
    assert "Pooled over seeds" in text and "seed 1: eodds 0.200" in text
    assert "yield over seeds [95% CI] | pooled yield [95% CI] |" in text and "Trust the over-seeds interval" in text
    ranked = [line for line in lines if line.startswith("| uniform | all |")]
    assert ranked[0].startswith("| uniform | all | 1 | pcm-ibm |") and ranked[1].startswith("| uniform | all | 2 | "
                                                                                              "reram-cmo |")
    by_seed = pd.read_csv(tmp_path / "population_by_seed.csv")
    assert sorted(by_seed["meet"]) == [0, 2, 3, 4]


def _seeds(meets: list[int], chips: list[int]) -> dict[int, pd.DataFrame]:
    """One cell over several seeds: seed s has chips[s] chips, the first meets[s] of them meeting the spec."""
    return {s: _frame([0.10] * m + [0.30] * (n - m), [0.80] * n) for s, (m, n) in enumerate(zip(meets, chips))}


def test_yield_over_seeds_is_the_t_interval_of_the_seeds_yields():
    # the example: 8 of 25 chips, but per seed 1, 0, 0, 2 and 5 of 5
    r = _table(_seeds([1, 0, 0, 2, 5], [5] * 5)).iloc[0]
    assert (r["chips"], r["meet"], r["seeds"]) == (25, 8, 5)
    assert 0.14 < r["yield_lo"] < 0.15 and 0.535 < r["yield_hi"] < 0.545  # pooled Clopper-Pearson [15%, 54%]
    props = np.array([0.2, 0.0, 0.0, 0.4, 1.0])
    half = student_t.ppf(0.975, 4) * props.std(ddof=1) / np.sqrt(5)  # by hand: 2.776 · 0.415 / √5
    assert r["yield_seeds"] == pytest.approx(0.32)
    assert r["yield_lo_seeds"] == 0.0 and r["yield_hi_seeds"] == pytest.approx(0.32 + half, abs=1e-12)
    assert 0.83 < r["yield_hi_seeds"] < 0.84  # clipped below: 0.32 − 0.515 < 0
    # unclipped, against scipy's own t-interval (not the code's ppf arithmetic)
    r = _table(_seeds([2, 3, 3, 4], [5] * 4)).iloc[0]
    props = np.array([0.4, 0.6, 0.6, 0.8])
    lo, hi = student_t.interval(0.95, 3, loc=props.mean(), scale=props.std(ddof=1) / 2)
    assert (r["yield_seeds"], r["yield_lo_seeds"], r["yield_hi_seeds"]) == pytest.approx((0.6, lo, hi), abs=1e-12)
    assert 0 < lo and hi < 1


def test_yield_over_seeds_weights_each_trained_model_equally():
    # seed 0: 1 of 2 chips; seed 1: 8 of 8. Pooled share 9/10; mean of the seeds' yields (0.5 + 1) / 2
    r = _table(_seeds([1, 8], [2, 8])).iloc[0]
    assert r["yield"] == pytest.approx(0.9) and r["yield_seeds"] == pytest.approx(0.75)


def test_yield_over_seeds_needs_two_seeds(tmp_path):
    r = _table(_seeds([3], [5])).iloc[0]
    assert r["seeds"] == 1 and r["yield_seeds"] == pytest.approx(0.6)
    assert np.isnan(r["yield_lo_seeds"]) and np.isnan(r["yield_hi_seeds"])
    alike = _table(_seeds([5, 5, 5], [5] * 3)).iloc[0]  # every seed 5/5: an interval of no width, marked as such
    assert (alike["yield_lo_seeds"], alike["yield_hi_seeds"]) == (1.0, 1.0)
    assert population._pct(alike, "_seeds") == "100% (seeds alike)"
    assert population._pct(alike) == "100% [78, 100]"  # pooled: 0.025^(1/15) = 0.78
    lines = population.section(_seeds([3], [5]), RAW, tmp_path)
    assert not any("over seeds" in line for line in lines)  # one seed: the pooled interval alone
    csv = pd.read_csv(tmp_path / "population.csv")
    assert {"yield_lo_seeds", "yield_hi_seeds"} <= set(csv.columns) and csv["yield_lo_seeds"].isna().all()
    assert population.seeds_interval([]) == pytest.approx((np.nan,) * 3, nan_ok=True)


def test_yield_gap_follows_the_claims_gap_unless_set(tmp_path):
    # eodds_bc = eodds / 2 in these rows (digital model: raw 0.10, bc 0.05): the chip at eodds 0.16 (bc 0.08) meets
    # the spec on bc (≤ 0.10) and fails it on raw (> 0.15); 0.10 meets both, 0.30 and 0.40 neither
    frames = {0: _frame([0.10, 0.16, 0.30, 0.40], [0.80] * 4)}
    meet = {}
    for spec, claims_gap in ((YieldSpecSection(), "eodds_bc"), (YieldSpecSection(), "eodds"),
                             (YieldSpecSection(), None), (RAW, "eodds_bc"),
                             (YieldSpecSection(gap="eodds_bc"), "eodds")):
        out = tmp_path / f"{spec.gap}-{claims_gap}"
        out.mkdir()
        text = "\n".join(population.section(frames, spec, out, claims_gap))
        table = pd.read_csv(out / "population.csv")
        meet[(spec.gap, claims_gap)] = (int(table["meet"].iloc[0]), table["gap"].iloc[0])
        assert ("the claims' gap" in text) == (spec.gap is None)
    assert meet == {(None, "eodds_bc"): (2, "eodds_bc"), (None, "eodds"): (1, "eodds"),
                    (None, None): (2, "eodds_bc"),  # the claims section's default
                    ("eodds", "eodds_bc"): (1, "eodds"), ("eodds_bc", "eodds"): (2, "eodds_bc")}


def test_yield_spec_gap_defaults_to_the_claims_gap_in_a_study():
    from fairxbar_aihw.study.config import validate

    assert validate({"seeds": [0]}, "x").yield_spec.gap is None
    assert validate({"seeds": [0], "yield_spec": {"gap": "eodds"}}, "x").yield_spec.gap == "eodds"


def test_yield_spec_stays_out_of_the_run_id():
    from fairxbar_aihw.study.config import validate
    from fairxbar_aihw.study.stored import run_config_for_hash

    a = validate({"seeds": [0]}, "x")
    b = validate({"seeds": [0], "yield_spec": {"max_eodds_increase": 0.2, "max_f1_drop": 0.05, "gap": "eodds_bc"}},
                 "x")
    assert b.yield_spec.max_eodds_increase == 0.2
    assert run_config_for_hash(a) == run_config_for_hash(b)


def _tiny_test_split():
    from fairxbar_aihw.data.splits import TensorSplit

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 3, 6, 6), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 5, (40,), generator=g)
    groups = torch.tensor([0] * 15 + [1] * 25)
    return TensorSplit(images, labels, groups)


def test_chip_churn_against_the_digital_model_is_the_hand_count():
    import fairxbar_aihw as fx
    from fairxbar_aihw.study.chips import ChipEvaluator, chip_logits, chip_rows
    from fairxbar_aihw.study.plan import Cell
    from fairxbar_aihw.training import predict_logits

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 7, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(7 * 6 * 6, 5)).eval()
    test = _tiny_test_split()
    ev = ChipEvaluator(model, test, 5)
    digital = predict_logits(model, test).argmax(1)
    assert torch.equal(ev.reference, digital)
    # hand-made logits: flip the prediction of 3 of group 0's 15 rows and 5 of group 1's 25
    logits = torch.nn.functional.one_hot(digital, 5).float()
    flips = [0, 4, 9, 15, 20, 30, 31, 39]
    logits[flips] = torch.nn.functional.one_hot((digital[flips] + 1) % 5, 5).float()
    row = ev.row(logits)
    assert (row["churn_g0"], row["churn_g1"], row["churn"]) == pytest.approx((3 / 15, 5 / 25, 8 / 40))
    assert ev.row(predict_logits(model, test))["churn"] == 0.0
    # a real chip: its stored churn is its own predictions against the digital ones, counted by hand
    preset = fx.hardware.load_preset("paper-variation", tile_rows=4, tile_cols=50).with_intensity(0.6)
    cell = Cell("sweep", "paper-variation", 0.6, "uniform", None, "t")
    (rows,) = list(chip_rows(ev, cell, preset, None, [0], 0, [None]))
    ((_, _, _, [(_, chip)]),) = list(chip_logits(ChipEvaluator(copy.deepcopy(model), test, 5), cell, preset, None,
                                                 [0], 0, [None]))
    changed = (chip.argmax(1) != digital).numpy()
    g = test.groups.numpy()
    hand = (changed[g == 0].sum() / 15, changed[g == 1].sum() / 25)
    assert changed.sum() > 0, "the chip changed nothing: the test would not see churn"
    data = rows[0][3]
    assert (data["churn_g0"], data["churn_g1"]) == pytest.approx(hand)


def test_evaluator_uses_a_given_reference_instead_of_recomputing(monkeypatch):
    """A Ray worker gets the digital predictions from the driver: no forward pass for them."""
    from fairxbar_aihw.study import chips

    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, 5)).eval()
    test = _tiny_test_split()
    given = torch.zeros(40, dtype=torch.long)
    monkeypatch.setattr(chips, "predict_logits", lambda *a, **k: pytest.fail("recomputed the reference"))
    ev = chips.ChipEvaluator(model, test, 5, reference=given)
    assert torch.equal(ev.reference, given)


TINY = {
    "description": "tiny population test",
    "seeds": [0, 1],
    "dataset": {"name": "synthderm", "size": 16, "params": {"n": 240, "num_classes": 3}},
    "model": {"name": "small-cnn"},
    "train": {"epochs": 1, "batch_size": 64},
    "saliency": {"estimator": "hessian-exact", "samples_per_group": 32, "batch_size": 32},
    "sweep": {"methods": ["uniform", "F+A R"], "targets": [0.5],
              "hardware": [{"preset": "paper-variation", "intensities": [0.1, 0.4]},
                           {"preset": "pcm-ibm"}], "trials": 4},
}


def test_tiny_study_reports_the_population(tmp_path, monkeypatch):
    from fairxbar_aihw.app import run_study
    from fairxbar_aihw.study import Study, load_study

    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "tinypop.yaml").write_text(yaml.safe_dump(TINY))
    for var, sub in (("STUDIES", "studies"), ("RUNS", "runs"), ("REPORTS", "reports"), ("CACHE", "cache")):
        monkeypatch.setenv(f"FAIRXBAR_{var}", str(tmp_path / sub))
    study = Study(load_study("tinypop"), progress=False)
    try:
        report = run_study(study)
        frames = study.frames()
    finally:
        study.close()
    text = report.read_text()
    top = report.parent
    for folder in (top, top / "seed-0", top / "seed-1"):
        readme = (folder / "README.md").read_text()
        assert "## Fairness across the chip population" in readme and "![Fairness yield vs intensity](fig_yield.png)" \
            in readme and (folder / "fig_yield.png").stat().st_size > 10_000
        assert readme.index("## Fairness across the chip population") > readme.index("## The paper's claims")
    assert "### Technologies ranked by yield" in text and "Pooled over seeds" in text
    # the pooled yield of each cell is the count of chips meeting the spec against their own seed's model, on the
    # claims' gap (bias-corrected by default); over seeds, the t-interval of the seeds' shares
    table = pd.read_csv(top / "population.csv")
    assert (table["gap"] == "eodds_bc").all()
    for _, r in table.iterrows():
        meet = n = 0
        shares = []
        for df in frames.values():
            base = df[df["kind"] == "baseline"].iloc[0]
            cell = df[(df["kind"] == "sweep") & (df["preset"] == r["preset"]) & (df["intensity"] == r["intensity"])
                      & (df["method"] == r["method"])]
            cell = cell[cell["target"].isna()] if pd.isna(r["target"]) else cell[cell["target"] == r["target"]]
            ok = int(((cell["eodds_bc"] <= base["eodds_bc"] + 0.05) & (cell["f1_micro"] >= base["f1_micro"] - 0.01))
                     .sum())
            meet, n = meet + ok, n + len(cell)
            shares.append(ok / len(cell))
        assert (r["meet"], r["chips"]) == (meet, n) and n == 8
        mean = np.mean(shares)
        half = student_t.ppf(0.975, 1) * np.std(shares, ddof=1) / np.sqrt(2)
        assert (r["yield_seeds"], r["yield_lo_seeds"], r["yield_hi_seeds"]) == pytest.approx(
            (mean, max(0, mean - half), min(1, mean + half)), abs=1e-6)  # the CSV keeps 6 significant digits
        assert not np.isnan(r["churn_g0_p50"])
    seed0 = frames[0][frames[0]["kind"] == "sweep"]
    assert seed0[["churn", "churn_g0", "churn_g1"]].notna().all().all() and seed0["churn"].max() > 0
