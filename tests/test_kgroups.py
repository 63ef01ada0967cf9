"""Fairness over k groups (``compute`` with codes 0..G-1, ``--groups``): against fairlearn's MetricFrame
(Weerts et al., JMLR 24(257), 2023), a pure-Python reference loop, the frozen two-group implementation
(tests/metrics_k2_before.py) and simulated test sets for the bias correction."""
import functools
import json
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from fairlearn.metrics import MetricFrame, false_positive_rate
from metrics_k2_before import compute as compute_before
from metrics_k2_before import flat_row as flat_row_before
from sklearn.metrics import accuracy_score, f1_score, recall_score

import fairxbar_aihw.cli as cli_module
from fairxbar_aihw.cli import cli
from fairxbar_aihw.errors import UserError
from fairxbar_aihw.metrics import churn, compute, flat_row, gap_bias
from fairxbar_aihw.metrics.core import HEADLINE, KGROUP_GAPS, MAX_GROUPS
from fairxbar_aihw.metrics.predictions_file import group_codes
from fairxbar_aihw.metrics.reference import compare, comparison_lines

GAPS = ("eodds", "eopp0", "eopp1")
KINDS = ("range", "worst_pair")


def _data(seed, n=3000, k=5, n_groups=2, skill=0.6):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    g = rng.integers(0, n_groups, n)
    hit = rng.random(n) < skill + 0.05 * g  # later groups a little better: real gaps
    p = np.where(hit, y, rng.integers(0, k, n))
    return y, p, g


# -- two groups: nothing changes ------------------------------------------------------------------

def _two_group_cases():
    y, p, g = _data(0)
    yield "random", (y, p, g), {}
    yield "scores", (y, p, g), {"scores": np.random.default_rng(1).random((len(y), 5)) + np.eye(5)[p]}
    yield "num_classes", _data(2, n=400, k=3), {"num_classes": 6}
    y, p, g = _data(3, n=600, k=4)
    keep = ~((y == 3) & (g == 1))  # class 3 has no positives in group 1: left out of the TPR sums
    yield "undefined", (y[keep], p[keep], g[keep]), {}
    yield "tiny", (np.array([0, 1, 1, 0, 0, 1]), np.array([0, 1, 0, 0, 1, 1]), np.array([0, 0, 0, 1, 1, 1])), {}
    yield "perfect", (np.arange(6) % 3, np.arange(6) % 3, np.arange(6) // 3), {}


@pytest.mark.parametrize("name,args,kwargs", list(_two_group_cases()), ids=[c[0] for c in _two_group_cases()])
def test_two_groups_are_bit_identical_to_the_two_group_audit(name, args, kwargs):
    new, old = compute(*args, **kwargs), compute_before(*args, **kwargs)
    for key, value in old.items():
        assert new[key] == value, key  # exact: floats, per-group dicts and lists
    assert list(new)[:len(old)] == list(old)  # the old keys keep their order; the new ones follow
    row, old_row = flat_row(new), flat_row_before(old)
    assert row == old_row and list(row) == list(old_row)  # no new column for two groups
    assert flat_row(new, "k_") == {f"k_{key}": v for key, v in old_row.items()}
    for gap in GAPS:  # both k-group gaps are the paper's gap, bias correction and floor included
        for kind in KINDS:
            assert new[f"{gap}_{kind}"] == old[gap], (gap, kind)
            assert new[f"{gap}_{kind}_bc"] == old[f"{gap}_bc"] and new[f"{gap}_{kind}_floor"] == old[f"{gap}_floor"]
    assert new["worst_pair"] == [0, 1] and new["pairwise_eodds"] == [[0.0, old["eodds"]], [old["eodds"], 0.0]]
    assert new["groups"] == [0, 1] and new["group_names"] == ["0", "1"]
    acc = [old["per_group"][c]["accuracy"] for c in (0, 1)]
    assert new["worst_group"] == int(np.argmin(acc))


# -- independent references ----------------------------------------------------------------------

def _metric_frame(y, p, sensitive, k):
    """Per-group accuracy, per-class recall (TPR) and one-vs-rest FPR from fairlearn's MetricFrame."""
    metrics = {"accuracy": accuracy_score}
    for c in range(k):
        metrics[f"tpr_{c}"] = functools.partial(recall_score, labels=[c], average="macro", zero_division=np.nan)
        metrics[f"fpr_{c}"] = lambda t, q, c=c: false_positive_rate(np.asarray(t) == c, np.asarray(q) == c)
    return MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=sensitive).by_group


def _assert_matches_frame(m, frame, names, k):
    for code, name in enumerate(names):
        ref = frame.loc[name]
        pg = m["per_group"][code]
        assert pg["accuracy"] == pytest.approx(ref["accuracy"], abs=1e-12), name
        for rate, expected in (("tpr", [ref[f"tpr_{c}"] for c in range(k)]),
                               ("fpr", [ref[f"fpr_{c}"] for c in range(k)]),
                               ("tnr", [1 - ref[f"fpr_{c}"] for c in range(k)])):
            ours = [np.nan if v is None else v for v in pg[rate]]  # None: undefined (no positives/negatives)
            assert ours == pytest.approx(expected, abs=1e-12, nan_ok=True), (name, rate)


def test_per_group_rates_of_six_groups_match_fairlearn():
    y, p, g = _data(4, n=4000, k=5, n_groups=6)
    fitz = pd.Series(g + 1, name="fitzpatrick")  # Fitzpatrick types 1..6
    codes, names = group_codes(pd.DataFrame({"fitzpatrick": fitz.astype(str)}), ["fitzpatrick"], "t")
    m = compute(y, p, codes, group_names=names)
    assert names == ["1", "2", "3", "4", "5", "6"] and m["group_names"] == names and m["groups"] == list(range(6))
    np.testing.assert_array_equal(codes, g)
    frame = _metric_frame(y, p, fitz, 5)
    frame.index = frame.index.astype(str)
    _assert_matches_frame(m, frame, names, 5)
    for code in range(6):
        assert m["per_group"][code]["f1_macro"] == pytest.approx(f1_score(y[g == code], p[g == code], average="macro"))


def test_intersections_of_two_columns_match_fairlearn():
    rng = np.random.default_rng(55)
    y, p, _ = _data(5, n=5000, k=4)
    table = pd.DataFrame({"sex": rng.choice(["M", "F"], len(y)), "tone": rng.choice(["light", "dark", "mid"], len(y))})
    codes, names = group_codes(table, ["sex", "tone"], "t")
    assert names == ["F × dark", "F × light", "F × mid", "M × dark", "M × light", "M × mid"]  # sorted tuples
    for code, name in enumerate(names):  # each code is exactly the rows with those two values
        sex, tone = name.split(" × ")
        np.testing.assert_array_equal(codes == code, (table["sex"] == sex) & (table["tone"] == tone))
    m = compute(y, p, codes, group_names=names)
    frame = _metric_frame(y, p, table, 4)
    frame.index = [f"{a} × {b}" for a, b in frame.index]
    _assert_matches_frame(m, frame, names, 4)


def test_group_values_sort_by_number_when_every_value_is_one():
    table = pd.DataFrame({"v": ["10", "2", "9", "2", " 10"], "w": ["b", "a", "a", "b", "b"]})
    codes, names = group_codes(table[["v"]], ["v"], "t")
    assert names == ["2", "9", "10"] and codes.tolist() == [2, 0, 1, 0, 2]  # 2 < 9 < 10, spaces stripped
    codes, names = group_codes(table, ["w", "v"], "t")
    assert names == ["a × 2", "a × 9", "b × 2", "b × 10"] and codes.tolist() == [3, 0, 1, 2, 3]
    assert group_codes(pd.DataFrame({"s": ["light", "dark"]}), ["s"], "t")[1] == ["dark", "light"]


def _reference_gaps(y, p, g, k):
    """Pure-Python k-group gaps: a loop over groups and classes counting rows, no numpy."""
    y, p, g = y.tolist(), p.tolist(), g.tolist()
    n_groups = max(g) + 1
    tpr, fpr, acc = {}, {}, {}
    for a in range(n_groups):
        rows = [(t, q) for t, q, h in zip(y, p, g) if h == a]
        acc[a] = sum(t == q for t, q in rows) / len(rows)
        for c in range(k):
            pos = [q for t, q in rows if t == c]
            neg = [q for t, q in rows if t != c]
            tpr[a, c] = sum(q == c for q in pos) / len(pos) if pos else None
            fpr[a, c] = sum(q == c for q in neg) / len(neg) if neg else None
    out = {}
    for name, rates in (("eopp1", (tpr,)), ("eopp0", (fpr,)), ("eodds", (tpr, fpr))):
        total = 0.0
        for c in range(k):
            if all(r[a, c] is not None for r in rates for a in range(n_groups)):
                total += sum(max(r[a, c] for a in range(n_groups)) - min(r[a, c] for a in range(n_groups))
                             for r in rates)
        out[f"{name}_range"] = total
        pair = {}
        for a in range(n_groups):
            for b in range(a + 1, n_groups):
                pair[a, b] = sum(sum(abs(r[a, c] - r[b, c]) for r in rates) for c in range(k)
                                 if all(r[x, c] is not None for r in rates for x in (a, b)))
        out[f"{name}_pairs"] = pair
        out[f"{name}_worst_pair"] = max(pair.values())
    out["worst_group"] = min(range(n_groups), key=lambda a: acc[a])
    out["acc_gap"] = max(acc.values()) - min(acc.values())
    return out


@pytest.mark.parametrize("seed,n_groups", [(6, 3), (7, 6), (8, 9)])
def test_kgroup_gaps_match_a_pure_python_loop(seed, n_groups):
    y, p, g = _data(seed, n=3000, k=4, n_groups=n_groups)
    full = compute(y, p, g)
    for gap in GAPS:  # with every rate defined, a pair's |Δ| is at most the range, class by class
        assert full[f"{gap}_worst_pair"] <= full[f"{gap}_range"] + 1e-12
    keep = ~((y == 2) & (g == 1))  # class 2 has no positives in group 1: out of the range, and of its pairs
    y, p, g = y[keep], p[keep], g[keep]
    m, ref = compute(y, p, g), _reference_gaps(y, p, g, 4)
    assert m["undefined"] == {"tpr": [2], "fpr": []}
    for gap in GAPS:
        assert m[f"{gap}_range"] == pytest.approx(ref[f"{gap}_range"], abs=1e-12), gap
        assert m[f"{gap}_worst_pair"] == pytest.approx(ref[f"{gap}_worst_pair"], abs=1e-12), gap
        assert m[gap] == m[f"{gap}_worst_pair"]  # for G > 2 the headline is the worst pair
    matrix = np.array(m["pairwise_eodds"])
    assert matrix.shape == (n_groups, n_groups) and (matrix == matrix.T).all() and (np.diag(matrix) == 0).all()
    for (a, b), value in ref["eodds_pairs"].items():
        assert matrix[a, b] == pytest.approx(value, abs=1e-12)
    a, b = m["worst_pair"]
    assert a < b and matrix[a, b] == pytest.approx(max(ref["eodds_pairs"].values()), abs=1e-12)
    assert m["worst_group"] == ref["worst_group"] and m["acc_gap"] == pytest.approx(ref["acc_gap"], abs=1e-12)
    f1 = [f1_score(y[g == c], p[g == c], average="macro") for c in range(n_groups)]
    assert m["f1_gap"] == pytest.approx(max(f1) - min(f1))
    two = compute(y[np.isin(g, (a, b))], p[np.isin(g, (a, b))], (g[np.isin(g, (a, b))] == b).astype(int), num_classes=4)
    for key in ("eodds", "eodds_nd", "eopp0_nd", "eopp1_nd"):  # the worst pair's own two-group numbers
        assert m[key] == pytest.approx(two[key], abs=1e-12), key
    assert m["per_group"][n_groups - 1]["ppv_ratio"] <= 1 and max(
        m["per_group"][c]["ppv_ratio"] for c in range(n_groups)) == 1.0  # relative to the best group


def test_bad_groups_are_one_line_errors():
    with pytest.raises(UserError, match=r"group 2 \(c\) has no samples: every group code 0\.\.3 needs samples"):
        compute([0, 1, 1], [0, 1, 1], [0, 1, 3], group_names=["a", "b", "c", "d"])
    with pytest.raises(UserError, match="group codes must be 0..G-1 .*found -2"):
        compute([0, 1, 1], [0, 1, 1], [0, 1, -2])
    with pytest.raises(UserError, match=f"at most {MAX_GROUPS} groups"):
        compute([0, 1], [0, 1], [0, MAX_GROUPS])
    with pytest.raises(UserError, match="group_names has 2 name"):
        compute([0, 1, 1], [0, 1, 1], [0, 1, 2], group_names=["a", "b"])
    with pytest.raises(UserError, match="confusion cells"):
        compute(np.arange(MAX_GROUPS) % 2, np.r_[np.zeros(MAX_GROUPS - 1, int), 1999], np.arange(MAX_GROUPS))


def test_flat_row_of_k_groups_has_every_group_and_gap():
    y, p, g = _data(9, n=2000, k=4, n_groups=5)
    m = compute(y, p, g)
    row = flat_row(m)
    per_group = [f"{c}_g{i}" for i in range(5) for c in ("acc", "f1", "ppv", "ppv_ratio", "sel_ratio", "fpr", "fnr")]
    extra = ["worst_group", "worst_pair_a", "worst_pair_b", "acc_range"]
    assert set(row) == {*HEADLINE, *per_group, *KGROUP_GAPS, *extra}
    assert len(KGROUP_GAPS) == 18 and "eopp1_worst_pair_floor" in KGROUP_GAPS
    assert row["worst_group"] == m["worst_group"] and [row["worst_pair_a"], row["worst_pair_b"]] == m["worst_pair"]
    assert row["acc_g4"] == m["per_group"][4]["accuracy"] and row["eodds_range_bc"] == m["eodds_range_bc"]
    assert row["acc_range"] == pytest.approx(m["acc_gap"])
    assert flat_row(m, "k_") == {f"k_{key}": v for key, v in row.items()}


# -- bias correction over k groups -----------------------------------------------------------------

def _probs(acc):
    k = len(acc)
    p = np.tile((1 - np.asarray(acc))[:, None] / (k - 1), (1, k))
    p[np.arange(k), np.arange(k)] = acc
    return p


def _true_gaps(probs):
    """The large-sample gaps of groups whose confusion probabilities are ``probs`` (G, K, K)."""
    k = probs.shape[1]
    tpr = np.diagonal(probs, axis1=1, axis2=2)
    fpr = (probs.sum(axis=1) - tpr) / (k - 1)  # rows per class are equal: the mean over the other classes
    out = {f"{gap}_range": 0.0 for gap in GAPS}
    for name, rates in (("eopp1", [tpr]), ("eopp0", [fpr]), ("eodds", [tpr, fpr])):
        out[f"{name}_range"] = sum((r.max(axis=0) - r.min(axis=0)).sum() for r in rates)
        out[f"{name}_worst_pair"] = max(sum(np.abs(r[a] - r[b]).sum() for r in rates)
                                        for a in range(len(probs)) for b in range(a + 1, len(probs)))
    return out


def _simulate(accs, per_class=150, reps=150, seed=0):
    """Mean raw, corrected and floor of every k-group gap over simulated test sets (per_class rows per
    class and group; errors spread evenly over the other classes)."""
    rng = np.random.default_rng(seed)
    probs = np.stack([_probs(a) for a in accs])
    n_groups, k = probs.shape[:2]
    y = np.repeat(np.arange(k), per_class)
    cum = probs[:, y].cumsum(axis=2)  # (G, rows, K)
    labels, groups = np.tile(y, n_groups), np.repeat(np.arange(n_groups), len(y))
    keys = [f"{gap}_{kind}" for gap in GAPS for kind in KINDS]
    sums = {f"{key}{s}": 0.0 for key in keys for s in ("", "_bc", "_floor")}
    for _ in range(reps):
        preds = (rng.random((n_groups, len(y)))[..., None] > cum).sum(axis=2).ravel()
        m = compute(labels, preds, groups)
        for key in sums:
            sums[key] += m[key] / reps
    return sums, _true_gaps(probs), keys


BASE = [0.70, 0.80, 0.60, 0.75]


def test_corrected_kgroup_gaps_are_near_zero_without_a_gap():
    """6 groups, 4 classes, 150 rows per class and group, no true gap: the raw gaps read the noise
    (the floor: 0.10–0.51), the corrected ones under a third of it (measured 0.17–0.28)."""
    mean, truth, keys = _simulate([BASE] * 6)
    for key in keys:
        assert truth[key] == 0.0
        assert mean[key] == pytest.approx(mean[f"{key}_floor"], rel=0.08), key  # the floor is the no-gap reading
        assert mean[key] > 0.09, key
        assert abs(mean[f"{key}_bc"]) < 0.33 * mean[key], (key, mean[key], mean[f"{key}_bc"])


@pytest.mark.parametrize("shift", [
    (0.0, 0.01, 0.02, 0.03, 0.04, 0.05),  # a small spread over all groups
    (0.0, 0.0, 0.0, 0.0, 0.0, 0.08),  # one group apart
    (0.0, 0.04, 0.08, 0.12, 0.16, 0.20),  # a large gap
])
def test_corrected_kgroup_gaps_are_less_biased_than_raw_with_a_real_gap(shift):
    mean, truth, keys = _simulate([[a + s for a in BASE] for s in shift], seed=1)
    for key in keys:
        assert truth[key] > 0.05
        raw_bias, bc_bias = mean[key] - truth[key], mean[f"{key}_bc"] - truth[key]
        assert abs(bc_bias) < abs(raw_bias) + 0.005, (key, truth[key], mean[key], mean[f"{key}_bc"])
        assert abs(bc_bias) < 0.35 * truth[key] + 0.01, (key, truth[key], mean[f"{key}_bc"])


def test_kgroup_correction_is_seeded_and_headlines_the_worst_pair(monkeypatch):
    y, p, g = _data(10, n=3000, k=4, n_groups=6, skill=0.7)
    m = compute(y, p, g)
    assert compute(y, p, g) == m  # a fixed internal seed: the same predictions read the same
    assert m["eodds_bc"] == m["eodds_worst_pair_bc"] and m["eodds_floor"] == m["eodds_worst_pair_floor"]
    assert m["eopp0_bc"] == m["eopp0_worst_pair_bc"] and m["eopp1_floor"] == m["eopp1_worst_pair_floor"]
    monkeypatch.setattr(gap_bias, "KGROUP_SEED", gap_bias.KGROUP_SEED + 1)
    other = compute(y, p, g)
    assert other["eodds_range_bc"] != m["eodds_range_bc"]  # the draws depend on the seed ...
    assert other["eodds_range_bc"] == pytest.approx(m["eodds_range_bc"], abs=0.02)  # ... a little


# -- churn, reference, predictions files and the CLI ---------------------------------------------------

def test_churn_and_reference_over_k_groups(tmp_path):
    rng = np.random.default_rng(11)
    n = 1200
    y, g = rng.integers(0, 3, n), rng.integers(0, 4, n)
    ref = np.where(rng.random(n) < 0.8, y, (y + 1) % 3)
    flip = rng.random(n) < np.array([0.05, 0.10, 0.15, 0.30])[g]
    dep = np.where(flip, (ref + 1) % 3, ref)
    c = churn(dep, ref, g)
    assert set(c) == {"churn", "churn_g0", "churn_g1", "churn_g2", "churn_g3"}
    for code in range(4):
        assert c[f"churn_g{code}"] == (dep != ref)[g == code].mean()
    assert set(churn(dep, ref, np.zeros(n, int))) == {"churn", "churn_g0", "churn_g1"}  # as before
    frame = pd.DataFrame({"label": y, "group": g})
    r = compare(frame.assign(pred=dep), frame.assign(pred=ref), resamples=30)
    assert sorted(r["churn"]) == [0, 1, 2, 3] and r["group_names"] == ["0", "1", "2", "3"]
    by_group = [(dep != ref)[g == code].mean() for code in range(4)]
    assert r["churn_gap"] == pytest.approx(max(by_group) - min(by_group))
    assert r["churn_gap_ci"][0] > 0.1  # group 3 changes far more than group 0
    assert r["deployed"]["eodds"] == compute(y, dep, g)["eodds_worst_pair"]
    lines = comparison_lines(r)
    assert any("largest − smallest group churn" in line for line in lines)
    assert sum(line.startswith(("0 ", "1 ", "2 ", "3 ")) for line in lines) == 4
    # text group values through --groups, matched by value in both files
    text = frame.assign(tone=np.array(["a", "b", "c", "d"])[g]).drop(columns="group")
    named = compare(text.assign(pred=dep), text.assign(pred=ref), resamples=30, group_columns=["tone"])
    assert named["group_names"] == ["a", "b", "c", "d"] and named["churn"] == r["churn"]
    with pytest.raises(UserError, match="hold different groups"):
        compare(text.assign(pred=dep, tone="x"), text.assign(pred=ref), resamples=2, group_columns=["tone"])


def test_metrics_cli_on_a_six_type_file_matches_fairlearn(tmp_path):
    y, p, g = _data(12, n=3000, k=4, n_groups=6)
    table = pd.DataFrame({"label": y, "pred": p, "fitzpatrick": g + 1})
    path = tmp_path / "preds.csv"
    table.to_csv(path, index=False)
    out = CliRunner().invoke(cli, ["metrics", str(path), "--groups", "fitzpatrick", "--json"])
    assert out.exit_code == 0, out.output
    m = json.loads(out.output)
    names = [str(t) for t in range(1, 7)]
    assert m["groups"] == list(range(6)) and m["group_names"] == names
    frame = _metric_frame(y, p, table["fitzpatrick"], 4)
    frame.index = frame.index.astype(str)
    m["per_group"] = {int(c): v for c, v in m["per_group"].items()}
    _assert_matches_frame(m, frame, names, 4)
    assert m["eodds"] == m["eodds_worst_pair"] and len(m["pairwise_eodds"]) == 6
    text = CliRunner().invoke(cli, ["metrics", str(path), "--groups", "fitzpatrick"])
    assert text.exit_code == 0, text.output
    a, b = m["worst_pair"]
    assert f"worst pair {names[a]} vs {names[b]}" in text.output and "eodds_range" in text.output
    assert sum(f"group {c} ({names[c]}): n=" in text.output for c in range(6)) == 6
    # the same groups as integer codes in 'group' need no --groups
    table.assign(group=g).to_csv(tmp_path / "codes.csv", index=False)
    codes = json.loads(CliRunner().invoke(cli, ["metrics", str(tmp_path / "codes.csv"), "--json"]).output)
    assert {key: codes[key] for key in ("eodds", "eodds_range_bc", "worst_pair")} == \
        {key: m[key] for key in ("eodds", "eodds_range_bc", "worst_pair")}


def _main(monkeypatch, capsys, *args):
    """``fairxbar-aihw`` as a user runs it (its one-line error handling included): exit code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["fairxbar-aihw", *args])
    try:
        cli_module.main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(result, fragment):
    code, _, err = result
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and fragment in lines[0] and "Traceback" not in err, err
    return lines[0]


def test_min_group_size_applies_only_to_k_groups_or_named_columns(tmp_path, monkeypatch, capsys):
    y, p, g = _data(13, n=400, k=3, n_groups=3)
    g[:5] = 3  # a fourth group of five rows
    path = tmp_path / "p.csv"
    pd.DataFrame({"label": y, "pred": p, "group": g, "site": np.where(g == 3, "tiny", "big")}).to_csv(path, index=False)
    line = _one_line(_main(monkeypatch, capsys, "metrics", str(path)), "group 3 has only 5 row(s), fewer than "
                     "--min-group-size 30")
    assert "merge its values" in line and "lower --min-group-size" in line
    assert _main(monkeypatch, capsys, "metrics", str(path), "--min-group-size", "5")[0] == 0
    _one_line(_main(monkeypatch, capsys, "metrics", str(path), "--groups", "site"), "group 'tiny' has only 5 row(s)")
    two = tmp_path / "two.csv"  # a two-group file of codes is audited as before, however small
    pd.DataFrame({"label": [0, 1, 1, 0], "pred": [0, 1, 0, 0], "group": [0, 0, 1, 1]}).to_csv(two, index=False)
    code, out, _ = _main(monkeypatch, capsys, "metrics", str(two))
    assert code == 0 and "group 0 (unprivileged): n=2" in out and "worst pair" not in out


@pytest.mark.parametrize("rows,args,fragment", [
    ("label,pred,tone\n0,0,a\n1,1,\n", ["--groups", "tone"], "group column 'tone' has 1 blank cell(s) (first: data row 2)"),
    ("label,pred,tone\n0,0,a\n", ["--groups", "skin"], "lacks column(s) skin; found label, pred, tone"),
    ("label,pred,group\n0,0,F\n1,1,M\n", [], "for group values other than codes 0..G-1 use --groups group"),
    ("label,pred,group\n0,0,0\n1,1,-1\n", [], "group codes must be 0..G-1"),
    ("label,pred,group\n0,0,0\n1,1,1\n1,1,3\n", ["--min-group-size", "1"], "group 2 has no samples"),
    ("label,pred,tone\n0,0,a\n", ["--groups", "tone,,x"], "--groups needs distinct column names"),
])
def test_group_errors_are_one_line(tmp_path, monkeypatch, capsys, rows, args, fragment):
    path = tmp_path / "p.csv"
    path.write_text(rows)
    _one_line(_main(monkeypatch, capsys, "metrics", str(path), *args), fragment)
