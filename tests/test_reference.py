"""A deployment against its reference (``metrics --reference``, ``fx.metrics.compare``): churn, McNemar
and paired deltas against hand-computed values and independent re-implementations."""
import json
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import fairxbar_aihw as fx
import fairxbar_aihw.cli as cli_module
from fairxbar_aihw.errors import UserError
from fairxbar_aihw.metrics import compute
from fairxbar_aihw.metrics.reference import DELTA_METRICS

# Eight test rows, two per (group, class). The deployment flips rows a, b and c (all in group 0):
# a and b were right and become wrong (broke 2), c was wrong and becomes right (fixed 1).
REFERENCE = pd.DataFrame({"id": list("abcdefgh"), "label": [0, 1, 1, 0, 0, 1, 1, 0],
                          "pred": [0, 1, 0, 0, 0, 1, 1, 1], "group": [0, 0, 0, 0, 1, 1, 1, 1]})
DEPLOYED = REFERENCE.assign(pred=[1, 0, 1, 0, 0, 1, 1, 1])


def _write(tmp_path, frame, name):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_churn_and_paired_deltas_match_hand_computed_values(tmp_path):
    shuffled = DEPLOYED.iloc[[7, 0, 1, 2, 3, 4, 5, 6]]  # same rows, other order: matched by id
    r = fx.metrics.compare(_write(tmp_path, shuffled, "dep.csv"), _write(tmp_path, REFERENCE, "ref.csv"),
                           resamples=50)
    assert r["matched_by"] == "id" and r["n"] == 8 and r["changed"] == 3
    assert r["churn"] == {0: 0.75, 1: 0.0} and r["churn_overall"] == 3 / 8
    # Clopper-Pearson in closed form: x = n − 1 → upper = (1 − α/2)^(1/n); x = 0 → upper = 1 − (α/2)^(1/n)
    assert r["churn_ci"][0][1] == pytest.approx(0.975 ** 0.25, abs=1e-9)
    assert r["churn_ci"][1] == pytest.approx([0.0, 1 - 0.025 ** 0.25], abs=1e-9)
    assert r["accuracy_reference"] == {0: 0.75, 1: 0.75} and r["accuracy_deployed"] == {0: 0.5, 1: 0.75}
    assert r["d_accuracy_by_group"] == {0: -0.25, 1: 0.0}
    assert r["mcnemar"][0] == {"broke": 2, "fixed": 1, "p_value": 1.0}
    assert r["mcnemar"][1] == {"broke": 0, "fixed": 0, "p_value": 1.0}
    assert r["churn_gap"] == 0.75
    # reference: group 0 has |ΔTPR| = |ΔFPR| = ½ against group 1 on both classes → EOdds 2;
    # deployed: class 1 differs in TPR only (½), class 0 in FPR only (½) → EOdds 1
    assert r["reference"]["eodds"] == 2.0 and r["deployed"]["eodds"] == 1.0 and r["d_eodds"] == -1.0
    assert r["d_eopp1"] == -0.5 and r["d_eopp0"] == -0.5
    assert r["d_accuracy"] == -1 / 8 and r["d_f1_micro"] == -1 / 8
    assert r["d_acc_gap"] == 0.25  # group 1 − group 0 accuracy: 0 before, ¼ after
    f1 = lambda p: compute(REFERENCE["label"], p, REFERENCE["group"])["f1_macro"]  # noqa: E731
    assert r["d_f1_macro"] == pytest.approx(f1(DEPLOYED["pred"]) - f1(REFERENCE["pred"]))
    assert r["d_eodds_bc"] == pytest.approx(compute(DEPLOYED["label"], DEPLOYED["pred"], DEPLOYED["group"])
                                            ["eodds_bc"] - compute(REFERENCE["label"], REFERENCE["pred"],
                                                                   REFERENCE["group"])["eodds_bc"])
    scored = fx.metrics.compare(DEPLOYED.assign(score_0=0.5, score_1=0.5), REFERENCE, resamples=5)
    assert scored["num_classes"] == 2  # the score columns name the classes; none is added
    by_position = fx.metrics.compare(DEPLOYED.drop(columns="id"), REFERENCE.drop(columns="id"), resamples=50)
    assert by_position["matched_by"] == "position"
    assert {k: by_position[k] for k in r if k != "matched_by"} == {k: r[k] for k in r if k != "matched_by"}


def _pair(n=900, seed=0):
    """A reference model and a deployment that changes group 0's predictions more often."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    g = rng.integers(0, 2, n)
    ref = np.where(rng.random(n) < 0.8, y, (y + 1) % 3)
    flip = rng.random(n) < np.where(g == 0, 0.15, 0.05)
    dep = np.where(flip, (ref + 1 + rng.integers(0, 2, n)) % 3, ref)
    frame = pd.DataFrame({"label": y, "group": g})
    return frame.assign(pred=dep), frame.assign(pred=ref), (y, g, ref, dep)


def test_mcnemar_is_the_exact_binomial_test_on_discordant_rows():
    dep, ref, (y, g, p_ref, p_dep) = _pair()
    r = fx.metrics.compare(dep, ref, resamples=20)
    for c in (0, 1):
        m = g == c
        broke = int(((p_ref == y) & (p_dep != y) & m).sum())
        fixed = int(((p_ref != y) & (p_dep == y) & m).sum())
        assert r["mcnemar"][c]["broke"] == broke and r["mcnemar"][c]["fixed"] == fixed
        assert r["mcnemar"][c]["p_value"] == pytest.approx(stats.binomtest(broke, broke + fixed, 0.5).pvalue)
        churn = (p_ref != p_dep)[m]
        ci = stats.binomtest(int(churn.sum()), int(m.sum())).proportion_ci(method="exact")
        assert r["churn"][c] == churn.mean() and r["churn_ci"][c] == pytest.approx([ci.low, ci.high])
    assert r["mcnemar"][0]["p_value"] < 0.01  # the deployment breaks more of group 0 than it fixes
    # five broken, none fixed: p = 2 · ½⁵ (closed form)
    tiny = pd.DataFrame({"label": [1] * 5 + [0] * 5, "pred": [1] * 5 + [0] * 5, "group": [0] * 5 + [1] * 5})
    assert fx.metrics.compare(tiny.assign(pred=[0] * 10), tiny, resamples=5)["mcnemar"][0]["p_value"] == 2 / 32


def _reimplemented_bootstrap(y, g, p_ref, p_dep, resamples, seed, level=0.95):
    """Independent seeded paired bootstrap: rows drawn within (group, class) strata, both models
    scored on the same draw."""
    rng = np.random.default_rng(seed)
    keys = g * (y.max() + 1) + y
    parts = [np.flatnonzero(keys == k) for k in np.unique(keys)]
    out = {k: [] for k in ("churn_gap", *DELTA_METRICS)}
    for _ in range(resamples):
        idx = np.concatenate([s[rng.integers(0, len(s), len(s))] for s in parts])
        a, b = compute(y[idx], p_ref[idx], g[idx], num_classes=3), compute(y[idx], p_dep[idx], g[idx], num_classes=3)
        ch = p_ref[idx] != p_dep[idx]
        out["churn_gap"].append(ch[g[idx] == 0].mean() - ch[g[idx] == 1].mean())
        for key in DELTA_METRICS:
            out[key].append(b[key] - a[key])
    tail = 100 * (1 - level) / 2
    return {k: [np.percentile(v, tail), np.percentile(v, 100 - tail)] for k, v in out.items()}


def test_paired_bootstrap_matches_a_seeded_reimplementation_and_scipy():
    dep, ref, (y, g, p_ref, p_dep) = _pair()
    r = fx.metrics.compare(dep, ref, resamples=300, seed=3)
    expected = _reimplemented_bootstrap(y, g, p_ref, p_dep, 300, 3)
    assert r["churn_gap_ci"] == pytest.approx(expected["churn_gap"], abs=1e-12)
    for key in DELTA_METRICS:
        assert r[f"d_{key}_ci"] == pytest.approx(expected[key], abs=1e-12), key
    assert r["churn_gap_ci"][0] > 0  # group 0's predictions changed more, and the interval says so
    # scipy's bootstrap over the same strata (each resampled on its own) for one metric
    keys = g * 3 + y
    parts = tuple(np.flatnonzero(keys == k) for k in np.unique(keys))

    def d_accuracy(*samples):
        idx = np.concatenate(samples).astype(int)
        return (p_dep[idx] == y[idx]).mean() - (p_ref[idx] == y[idx]).mean()

    ci = stats.bootstrap(parts, d_accuracy, vectorized=False, n_resamples=1000, method="percentile",
                         random_state=np.random.default_rng(0)).confidence_interval
    ours = fx.metrics.compare(dep, ref, resamples=1000)["d_accuracy_ci"]
    width = ci.high - ci.low
    assert abs(ours[0] - ci.low) < 0.15 * width and abs(ours[1] - ci.high) < 0.15 * width


@pytest.mark.parametrize("change,fragment", [
    (lambda d: d.assign(label=[1, 1, 1, 0, 0, 1, 1, 0]), "1 matched row(s) have a different label"),
    (lambda d: d.assign(group=[0, 0, 0, 0, 1, 1, 1, 0]), "1 matched row(s) have a different group"),
    (lambda d: d.iloc[:7], "has 7 rows but the reference"),
    (lambda d: d.drop(columns="id"), "has an 'id' column but"),
    (lambda d: d.assign(id=list("abcdefgz")), "id(s) of the reference"),
    (lambda d: d.assign(id=list("abcdefgg")), "id 'g' occurs more than once"),
])
def test_mismatched_files_are_one_line_errors(tmp_path, monkeypatch, capsys, change, fragment):
    dep = _write(tmp_path, change(DEPLOYED), "dep.csv")
    ref = _write(tmp_path, REFERENCE, "ref.csv")
    with pytest.raises(UserError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        fx.metrics.compare(dep, ref)
    monkeypatch.setattr(sys, "argv", ["fairxbar-aihw", "metrics", str(dep), "--reference", str(ref)])
    with pytest.raises(SystemExit) as exc:
        cli_module.main()
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and fragment in err[0] and "Traceback" not in err[0]


def test_cli_json_keys_churn_and_intervals_by_group(tmp_path, monkeypatch, capsys):
    dep, ref = _write(tmp_path, DEPLOYED, "dep.csv"), _write(tmp_path, REFERENCE, "ref.csv")
    monkeypatch.setattr(sys, "argv", ["fairxbar-aihw", "metrics", str(dep), "--reference", str(ref), "--json"])
    cli_module.main()
    out = json.loads(capsys.readouterr().out)
    assert out["churn"] == {"0": 0.75, "1": 0.0} and len(out["churn_ci"]["0"]) == 2
    assert out["d_eodds"] == -1.0 and set(f"d_{k}_ci" for k in DELTA_METRICS) <= set(out)
    monkeypatch.setattr(sys, "argv", ["fairxbar-aihw", "metrics", str(dep), "--reference", str(ref)])
    cli_module.main()
    text = capsys.readouterr().out
    assert "0 (unprivileged)        4        3  0.7500" in text and "2/1, p=1" in text
