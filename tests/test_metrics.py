"""Metrics cross-checked against sklearn and hand-computed examples."""
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score, roc_auc_score

from fairxbar_aihw.errors import UserError
from fairxbar_aihw.metrics import binary_auc, compute, metrics_from_csv


def _reference_rates(y, p, g, k):
    """Per-group one-vs-rest TPR/FPR from sklearn's confusion matrix (independent path)."""
    out = {}
    for c in (0, 1):
        cm = confusion_matrix(y[g == c], p[g == c], labels=list(range(k)))
        tp = np.diag(cm).astype(float)
        pos = cm.sum(1).astype(float)
        fp = cm.sum(0) - tp
        neg = cm.sum() - pos
        with np.errstate(invalid="ignore", divide="ignore"):
            out[c] = (tp / pos, fp / neg)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_inputs_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n, k = 3000, 5
    y = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))
    g = rng.integers(0, 2, n)
    scores = rng.random((n, k)) + np.eye(k)[p]
    m = compute(y, p, g, scores=scores)
    assert m["f1_macro"] == pytest.approx(f1_score(y, p, average="macro"), abs=1e-12)
    assert m["f1_micro"] == pytest.approx(f1_score(y, p, average="micro"), abs=1e-12)
    assert m["kappa"] == pytest.approx(cohen_kappa_score(y, p), abs=1e-12)
    for c in (0, 1):
        assert m["per_group"][c]["f1_macro"] == pytest.approx(f1_score(y[g == c], p[g == c], average="macro"))
        assert m["per_group"][c]["accuracy"] == pytest.approx(np.mean(y[g == c] == p[g == c]))
    ref = _reference_rates(y, p, g, k)
    d_tpr = np.abs(ref[1][0] - ref[0][0])
    d_fpr = np.abs(ref[1][1] - ref[0][1])
    assert m["eodds"] == pytest.approx((d_tpr + d_fpr).sum())
    assert m["eopp0"] == pytest.approx(np.abs((1 - ref[1][1]) - (1 - ref[0][1])).sum())
    assert m["eopp1"] == pytest.approx(d_tpr.sum())
    assert m["eodds_nd"] == pytest.approx(((d_tpr + d_fpr) / 2).mean())
    assert m["eopp1_nd"] == pytest.approx(d_tpr.mean())
    ref_auc = np.mean([roc_auc_score(y == j, scores[:, j]) for j in range(k)])
    assert m["auc"] == pytest.approx(ref_auc)


def test_auc_with_ties_matches_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    s = rng.integers(0, 5, 500).astype(float)  # many ties
    assert binary_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert binary_auc(np.ones(4), np.arange(4.0)) is None


def test_hand_computed_two_class_example():
    # group 1: y=[0,0,1,1] p=[0,1,1,1] -> TPR1=1, FPR1=0.5 ; class0: TPR=0.5, FPR=0
    # group 0: y=[0,0,1,1] p=[0,0,0,1] -> TPR1=0.5, FPR1=0 ; class0: TPR=1, FPR=0.5
    y = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    p = np.array([0, 1, 1, 1, 0, 0, 0, 1])
    g = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    m = compute(y, p, g)
    # class 1: |1-0.5| + |0.5-0| = 1 ; class 0: |0.5-1| + |0-0.5| = 1
    assert m["eodds"] == pytest.approx(2.0)
    assert m["eopp1"] == pytest.approx(1.0)
    assert m["eopp0"] == pytest.approx(1.0)
    assert m["eodds_nd"] == pytest.approx(0.5)
    assert m["per_group"][1]["tpr"] == [0.5, 1.0]
    assert m["per_group"][0]["fnr"] == [0.0, 0.5]
    assert m["per_group"][1]["ppv"] == [1.0, 2 / 3]
    # PPV ratio: macro PPV g1 = (1 + 2/3)/2, g0 = (2/3 + 1)/2 -> equal
    assert m["per_group"][0]["ppv_ratio"] == pytest.approx(1.0)
    # selection rates: g1 predicts class 0 1/4, class 1 3/4; g0 predicts class 0 3/4, class 1 1/4
    assert m["per_group"][1]["selection_rate"] == [0.25, 0.75]
    assert m["per_group"][0]["selection_rate_ratio"] == pytest.approx((1 + 1 / 3) / 2)
    assert m["per_group"][1]["selection_rate_ratio"] == pytest.approx((1 / 3 + 1) / 2)


def test_perfect_and_worst_predictions():
    y = np.array([0, 1, 2, 0, 1, 2])
    g = np.array([0, 0, 0, 1, 1, 1])
    perfect = compute(y, y, g)
    assert perfect["f1_macro"] == 1.0 and perfect["eodds"] == 0.0 and perfect["accuracy"] == 1.0
    worst = compute(y, (y + 1) % 3, g)
    assert worst["f1_macro"] == 0.0 and worst["accuracy"] == 0.0
    assert worst["f1_macro"] == pytest.approx(f1_score(y, (y + 1) % 3, average="macro", zero_division=0))


def test_class_absent_from_one_group_is_left_out_and_reported():
    y = np.array([0, 1, 2, 0, 1, 1])
    p = np.array([0, 1, 2, 0, 0, 1])
    g = np.array([0, 0, 0, 1, 1, 1])  # class 2 has no positives in group 1
    m = compute(y, p, g)
    assert m["undefined"]["tpr"] == [2]
    assert m["per_group"][1]["tpr"][2] is None
    assert not np.isnan(m["eodds"]) and not np.isnan(m["eopp1_nd"])
    # only classes 0, 1 in the TPR part: group0 TPR=(1,1), group1 TPR=(1,0.5)
    assert m["eopp1"] == pytest.approx(0.5)


def test_single_class():
    y = np.zeros(6, dtype=int)
    m = compute(y, y, np.array([0, 1, 0, 1, 0, 1]))
    assert m["f1_macro"] == 1.0
    assert m["undefined"]["fpr"] == [0]  # no negatives anywhere
    assert m["eodds"] == 0.0


def test_bad_inputs_raise_user_errors():
    with pytest.raises(UserError, match="lengths differ"):
        compute([0, 1], [0], [0, 1])
    with pytest.raises(UserError, match="group 1 has no samples"):
        compute([0, 1], [0, 1], [0, 0])
    with pytest.raises(UserError, match=r"group 1 has no samples: every group code 0\.\.2 needs samples"):
        compute([0, 1], [0, 1], [0, 2])  # codes 0..G-1: a skipped code is an empty group
    with pytest.raises(UserError, match="group codes must be 0..G-1 .*found -1"):
        compute([0, 1], [0, 1], [0, -1])


def test_csv_reader(tmp_path):
    import pandas as pd

    path = tmp_path / "pred.csv"
    pd.DataFrame({"label": [0, 1, 1, 0], "pred": [0, 1, 0, 0], "group": [0, 0, 1, 1],
                  "score_0": [0.9, 0.2, 0.6, 0.8], "score_1": [0.1, 0.8, 0.4, 0.2]}).to_csv(path, index=False)
    m = metrics_from_csv(path)
    assert m["accuracy"] == 0.75 and m["auc"] is not None
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"label": [0], "prediction": [0]}).to_csv(bad, index=False)
    with pytest.raises(UserError, match="lacks column"):
        metrics_from_csv(bad)
    with pytest.raises(UserError, match="not found"):
        metrics_from_csv(tmp_path / "missing.csv")


def test_predictions_file_is_read_compactly(tmp_path):
    """Only label, pred, group and score_<k> are read, ids as int32: 4 bytes a row per id column and
    8 per score (the default reading kept every column as 8-byte numbers or Python strings)."""
    import pandas as pd

    from fairxbar_aihw.metrics.predictions_file import load_predictions

    path = tmp_path / "pred.csv"
    frame = pd.DataFrame({"label": [0, 1, 1, 0, 2], "pred": [0, 1, 0, 0, 2], "group": [0, 0, 1, 1, 1],
                          "image": [f"images/some/long/path/{i}.png" for i in range(5)],
                          "score_0": [0.9, 0.2, 0.6, 0.8, 0.1], "score_1": [0.05, 0.7, 0.3, 0.1, 0.1],
                          "score_2": [0.05, 0.1, 0.1, 0.1, 0.8]})
    frame.to_csv(path, index=False)
    data = load_predictions(path, ["score_0", "score_1", "score_2"])
    assert sorted(data) == ["group", "label", "pred", "score_0", "score_1", "score_2"]  # no image column
    assert sum(a.itemsize for a in data.values()) == 3 * 4 + 3 * 8  # bytes per row
    for col, values in data.items():
        np.testing.assert_array_equal(values, frame[col].to_numpy())
    assert metrics_from_csv(path) == compute(frame.label, frame.pred, frame.group,
                                             scores=frame[["score_0", "score_1", "score_2"]].to_numpy())
