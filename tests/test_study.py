"""A tiny study end to end through the CLI: report, resume after SIGKILL, clear errors."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from fairxbar_aihw.study.keys import RowKey

TINY = {
    "description": "tiny test study",
    "seeds": [0],
    "dataset": {"name": "synthderm", "size": 16, "params": {"n": 240, "num_classes": 3}},
    "model": {"name": "small-cnn", "digital_layers": ["0"]},
    "train": {"epochs": 1, "batch_size": 64},
    "saliency": {"estimator": "hessian-exact", "samples_per_group": 32, "batch_size": 32},
    "sweep": {"methods": ["uniform", "random", "FR", "F+A R"], "targets": [0.5],
              "hardware": [{"preset": "paper-variation", "intensities": [0.2]}], "trials": 4},
    "drift": {"times": [1.0, 86400.0], "presets": ["pcm-ibm"], "methods": ["uniform", "F+A R"], "trials": 2},
    "retrain": {"arms": ["va", "vfa"], "steps": 3, "refresh_every": 2, "samples_per_group": 16, "trials": 2},
    "prune": {"kinds": ["magnitude"], "sparsities": [0.5]},
}


def _env(tmp: Path) -> dict:
    env = dict(os.environ)
    env.update(FAIRXBAR_STUDIES=str(tmp / "studies"), FAIRXBAR_RUNS=str(tmp / "runs"),
               FAIRXBAR_REPORTS=str(tmp / "reports"), FAIRXBAR_CACHE=str(tmp / "cache"), OMP_NUM_THREADS="1")
    return env


def _cli(tmp: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "fairxbar_aihw.cli", *args], env=_env(tmp),
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


@pytest.fixture
def study_dir(tmp_path):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    return tmp_path


def _table(db: Path) -> pd.DataFrame:
    with sqlite3.connect(db) as conn:
        df = pd.read_sql_query("SELECT cell, trial, seed, data_json FROM trials ORDER BY cell, trial", conn)
    return df


def test_tiny_study_end_to_end(study_dir):
    _cli(study_dir, "study", "tiny", "--no-progress")
    report = study_dir / "reports" / "tiny" / "README.md"
    text = report.read_text()
    assert "SYNTHETIC DATA" in text
    for fig in ("fig_ranks.png", "fig_layer_fraction.png", "fig_clouds.png", "fig_intensity.png",
                "fig_tradeoff.png", "fig_drift.png"):
        assert (report.parent / fig).stat().st_size > 5000
    df = _table(study_dir / "runs" / "tiny" / "results.sqlite")
    # 1 baseline + uniform + 3 targeted methods × 4 trials + drift 2 methods × 2 trials × 2 times
    # + 2 retrained arms × (1 ideal row + 2 chips) + 1 pruning row
    assert len(df) == 1 + 4 * 4 + 2 * 2 * 2 + 2 * 3 + 1
    assert "VA-Retrain vs F+A R" in text and "Pruning arms" in text
    assert "INCOMPLETE RUN" not in text
    # the report's numbers come from the DB: regenerating gives the same file
    first = report.read_bytes()
    _cli(study_dir, "report", "tiny")
    assert report.read_bytes() == first
    # rerunning does no new work and keeps every row
    out = _cli(study_dir, "inject", "tiny", "--no-progress")
    assert out.stdout.startswith("0 chips run")
    # more trials extend the same run
    _cli(study_dir, "inject", "tiny", "--trials", "6", "--no-progress")
    assert len(_table(study_dir / "runs" / "tiny" / "results.sqlite")) == len(df) + 4 * 2


def test_sigkill_then_resume_equals_uninterrupted_run(study_dir, tmp_path):
    _cli(study_dir, "saliency", "tiny", "--no-progress")  # train + curvature cached first
    env = _env(study_dir)
    db = study_dir / "runs" / "tiny" / "results.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "fairxbar_aihw.cli", "inject", "tiny", "--trials", "40",
                             "--no-progress"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        time.sleep(0.2)
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    if conn.execute("SELECT count(*) FROM trials").fetchone()[0] >= 25:
                        break
            except sqlite3.OperationalError:
                pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(_table(db))
    assert 25 <= partial < 1 + 4 * 40
    _cli(study_dir, "inject", "tiny", "--trials", "40", "--no-progress")
    resumed = _table(db)
    # the same study, never interrupted, in a separate runs folder
    other = tmp_path / "other"
    (other / "studies").mkdir(parents=True)
    (other / "studies" / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    _cli(other, "inject", "tiny", "--trials", "40", "--no-progress")
    clean = _table(other / "runs" / "tiny" / "results.sqlite")
    assert len(resumed) == len(clean) == 1 + 4 * 40
    pd.testing.assert_frame_equal(resumed, clean)


def test_report_of_an_unfinished_run_says_what_is_missing_and_how_to_finish(study_dir):
    _cli(study_dir, "inject", "tiny", "--no-progress")  # stopped after the sweep: no drift, arms or pruning
    db = study_dir / "runs" / "tiny" / "results.sqlite"
    with sqlite3.connect(db) as conn:  # and 3 sweep chips lost: uniform's last two, F+A R's last one
        conn.execute("DELETE FROM trials WHERE cell LIKE 'sweep|%|uniform|%' AND trial >= 2")
        conn.execute("DELETE FROM trials WHERE cell LIKE 'sweep|%|F+A R|%' AND trial = 3")
    proc = _cli(study_dir, "report", "tiny")
    expected = ("missing seed 0: sweep chips 13 of 16 (2 of 4 cells complete), drift chips 0 of 8 (0 of 4 cells "
                "complete), retrained arms 0 of 2 (missing VA-Retrain, VFA-Retrain), arm chips 0 of 4 (0 of 2 cells "
                "complete), pruning rows 0 of 1 (missing magnitude 0.5), per-group diagnostics of VA-Retrain, "
                "VFA-Retrain, pre-trained; the report leaves those out. Finish the run with `fairxbar-aihw study "
                "tiny` (it resumes and rewrites the report).")
    assert proc.stderr.strip().splitlines()[-1] == f"warning: incomplete run: {expected}"
    lines = (study_dir / "reports" / "tiny" / "README.md").read_text().splitlines()
    assert lines[:3] == ["# Study `tiny`", "", f"> **INCOMPLETE RUN:** {expected}"]
    # several seeds: the across-seed report names each seed's gaps; the command keeps the options given
    two = {**TINY, "seeds": [0, 1], "sweep": {**TINY["sweep"], "methods": ["uniform"], "trials": 2},
           "drift": {"times": []}, "retrain": {"arms": []}, "prune": {"kinds": []}}
    (study_dir / "studies" / "two.yaml").write_text(yaml.safe_dump(two))
    _cli(study_dir, "study", "two", "--no-progress")
    assert "INCOMPLETE" not in (study_dir / "reports" / "two" / "README.md").read_text()
    with sqlite3.connect(study_dir / "runs" / "two" / "results.sqlite") as conn:
        conn.execute("DELETE FROM trials WHERE trial = 1 AND run_id IN (SELECT run_id FROM runs WHERE "
                     "config_json LIKE '%\"seed\": 1,%')")
    proc = _cli(study_dir, "report", "two", "--seeds", "0,1")
    line = ("missing seed 1: sweep chips 1 of 2 (0 of 1 cells complete); the report leaves those out. Finish the run "
            "with `fairxbar-aihw study two --seeds 0,1` (it resumes and rewrites the report).")
    assert proc.stderr.strip().splitlines()[-1] == f"warning: incomplete run: {line}"
    assert f"> **INCOMPLETE RUN:** {line}" in (study_dir / "reports" / "two" / "README.md").read_text()
    assert f"> **INCOMPLETE RUN:** {line}" in (study_dir / "reports" / "two" / "seed-1" / "README.md").read_text()
    assert "INCOMPLETE" not in (study_dir / "reports" / "two" / "seed-0" / "README.md").read_text()


@pytest.mark.parametrize("args,message", [
    (["study", "nope"], "unknown study 'nope'"),
    (["study", "tiny", "--preset", "nope"], "unknown preset 'nope'"),
    (["study", "tiny", "--trials", "0"], "'--trials': 0 is not in the range x>=1"),
    (["metrics", "missing.csv"], "predictions file not found"),
    (["data", "check", "--dataset", "fitzpatrick17k", "--root", "/nonexistent"], "is not a directory"),
    (["data", "check", "--dataset", "isic2019"], "needs a data root"),
    (["presets", "show", "nope"], "unknown preset"),
])
def test_cli_errors_are_one_line_exit_2(study_dir, args, message):
    proc = _cli(study_dir, *args, check=False)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("note:")]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_study_file_names_the_key(study_dir):
    bad = dict(TINY, sweep={**TINY["sweep"], "targets": [5]})
    (study_dir / "studies" / "bad.yaml").write_text(yaml.safe_dump(bad))
    proc = _cli(study_dir, "study", "bad", check=False)
    assert proc.returncode == 2 and "sweep.targets must be fractions" in proc.stderr
    (study_dir / "studies" / "bad2.yaml").write_text(yaml.safe_dump({**TINY, "colour": 1}))
    proc = _cli(study_dir, "study", "bad2", check=False)
    assert proc.returncode == 2 and "unknown key 'colour'" in proc.stderr


def test_listings(study_dir):
    out = _cli(study_dir, "presets").stdout
    assert "paper-variation" in out and "pcm-ibm" in out
    assert "noise_rate: 0.1" in _cli(study_dir, "presets", "show", "paper-variation").stdout
    assert "tiny" in _cli(study_dir, "studies").stdout
    assert _cli(study_dir, "--version").stdout.strip().endswith("0.1.0")


def test_sigkill_during_training_then_resume_equals_uninterrupted_run(tmp_path):
    """kill -9 in the middle of training: the resumed study's every row equals an unbroken run's."""
    cfg = {**TINY, "dataset": {**TINY["dataset"], "params": {"n": 1500, "num_classes": 3}},
           "train": {"epochs": 4, "batch_size": 32}, "drift": {"times": []}, "retrain": {"arms": []},
           "prune": {"kinds": []}, "sweep": {**TINY["sweep"], "trials": 2}}
    homes = []
    for name in ("killed", "clean"):
        home = tmp_path / name
        (home / "studies").mkdir(parents=True)
        (home / "studies" / "tiny.yaml").write_text(yaml.safe_dump(cfg))
        homes.append(home)
    killed, clean = homes
    partial = killed / "runs" / "tiny" / "seed-0" / "model.partial.pt"
    proc = subprocess.Popen([sys.executable, "-m", "fairxbar_aihw.cli", "study", "tiny", "--no-progress"],
                            env=_env(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not partial.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert partial.exists() and not (killed / "runs" / "tiny" / "seed-0" / "model.pt").exists(), "kill missed training"
    _cli(killed, "study", "tiny", "--no-progress")
    _cli(clean, "study", "tiny", "--no-progress")
    a = _table(killed / "runs" / "tiny" / "results.sqlite")
    b = _table(clean / "runs" / "tiny" / "results.sqlite")
    assert len(a) == len(b) > 1
    pd.testing.assert_frame_equal(a, b)


def test_config_reference_page_is_current():
    from fairxbar_aihw.config_reference import render

    page = Path(__file__).resolve().parents[1] / "docs" / "config-reference.md"
    assert page.read_text() == render(), "rerun: python -m fairxbar_aihw.config_reference > docs/config-reference.md"
    assert "`train.lr` | float | `0.001` | > 0, < 1 |" in render()


def test_preset_keys_belong_to_its_technology(tmp_path, monkeypatch):
    from fairxbar_aihw.errors import ConfigError
    from fairxbar_aihw.hardware import load_preset

    with pytest.raises(ConfigError, match="noise_rate do\\(es\\) not apply to noise_model pcm"):
        load_preset("pcm-ibm", noise_rate=0.1)
    assert "noise_rate" not in load_preset("pcm-ibm").values
    assert load_preset("paper-variation", noise_rate=0.2).values["noise_rate"] == 0.2


def _in_process_run(tmp_path, monkeypatch, cfg, name="tiny"):
    from fairxbar_aihw.study import StudyRun, load_study

    (tmp_path / "studies").mkdir(parents=True, exist_ok=True)
    (tmp_path / "studies" / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("FAIRXBAR_STUDIES", str(tmp_path / "studies"))
    monkeypatch.setenv("FAIRXBAR_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FAIRXBAR_REPORTS", str(tmp_path / "reports"))
    return StudyRun(load_study(name), progress=False)


@pytest.mark.parametrize("setting", ["auto", 0, 1])
def test_unprivileged_setting_codes_group_0(tmp_path, monkeypatch, setting):
    import fairxbar_aihw as fx
    from fairxbar_aihw.training import evaluate

    cfg = {**TINY, "dataset": {**TINY["dataset"], "unprivileged": setting}}
    run = _in_process_run(tmp_path, monkeypatch, cfg)
    raw = fx.data.load("synthderm", seed=0, size=16, **TINY["dataset"]["params"])
    model, ckpt = run.train_baseline()
    f1 = [ckpt["val"]["per_group"][c]["f1_macro"] for c in (0, 1)]
    expect_swap = setting == 1 or (setting == "auto" and f1[1] < f1[0])
    assert run.code_groups() == run.swapped == expect_swap
    flip = 1 if expect_swap else 0
    assert torch.equal(run.splits.test.groups, (raw.test.groups + flip) % 2)
    assert torch.equal(run.data.test.groups, raw.test.groups)  # the dataset coding is left alone
    assert run.splits.group_names[0] == raw.group_names[flip]
    if setting == "auto":  # group 0 is the one the model serves worse
        per_group = evaluate(model, run.splits.val, "cpu", run.splits.num_classes)["per_group"]
        assert per_group[0]["f1_macro"] <= per_group[1]["f1_macro"]
    assert run.store.get_meta(run.run_id, "groups")["swapped"] == expect_swap
    run.close()


def test_every_method_sees_the_same_chips(study_dir):
    _cli(study_dir, "inject", "tiny", "--no-progress")
    df = _table(study_dir / "runs" / "tiny" / "results.sqlite")
    sweep = df[df["cell"].str.startswith("sweep|")].copy()
    sweep["method"] = [RowKey.parse(k).fields[2] for k in sweep["cell"]]
    seeds = sweep.pivot_table(index="trial", columns="method", values="seed")
    assert set(seeds.columns) == {"uniform", "random", "FR", "F+A R"}
    assert (seeds.nunique(axis=1) == 1).all() and seeds.iloc[:, 0].nunique() == len(seeds)


@pytest.mark.parametrize("stage", ["drift", "arms"])
def test_drift_and_retrain_stages_resume_to_the_unbroken_result(tmp_path, monkeypatch, stage):
    from fairxbar_aihw.store import ResultsStore
    from fairxbar_aihw.study.stages import prepare, run_stage

    cfg = {**TINY, "sweep": {**TINY["sweep"], "methods": ["F+A R"], "trials": 2}, "prune": {"kinds": []}}
    clean = _in_process_run(tmp_path / "clean", monkeypatch, cfg)
    prepare(clean)
    run_stage(clean, stage)
    expected = clean.store.to_frame(clean.run_id)
    clean.close()
    broken = _in_process_run(tmp_path / "broken", monkeypatch, cfg)
    prepare(broken)
    real_write = ResultsStore.write_trials
    calls = {"n": 0}

    def dying_write(self, run_id, rows):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed after the first chip was committed
        return real_write(self, run_id, rows)

    monkeypatch.setattr(ResultsStore, "write_trials", dying_write)
    with pytest.raises(KeyboardInterrupt):
        run_stage(broken, stage)
    monkeypatch.setattr(ResultsStore, "write_trials", real_write)
    broken.close()
    resumed = _in_process_run(tmp_path / "broken", monkeypatch, cfg)
    prepare(resumed)
    run_stage(resumed, stage)
    got = resumed.store.to_frame(resumed.run_id)
    resumed.close()
    assert len(got) == len(expected) > 1
    pd.testing.assert_frame_equal(got, expected)


def test_rows_stored_under_an_older_targeting_meaning_count_as_missing(tmp_path, monkeypatch):
    """A finished run's stored rows satisfy its plan; after the targeting semantics change
    (TARGETING_VERSION bumped) every chip row is missing again, so it is recomputed, never reused,
    while the rows that do not depend on targeting (pre-trained model, retrained arms, pruning) stay
    done. The chip rows' keys are pinned as computed on main at c84578e (run folders must resume)."""
    from fairxbar_aihw.study import load_study
    from fairxbar_aihw.study import plan
    from fairxbar_aihw.study.progress import missing

    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    monkeypatch.setenv("FAIRXBAR_STUDIES", str(tmp_path))
    cfg = load_study("tiny")
    planned = plan.StudyPlan(cfg).planned_rows()
    stored = {(key, trial) for key, n in planned.items() for trial in range(n)}
    diagnostics = dict.fromkeys(plan.StudyPlan(cfg).diagnostic_models(), {})
    assert {"sweep|paper-variation|0.2|F+A R|0.5|ff63b566", "drift|pcm-ibm|1.0|uniform|None|f149c713|t=86400",
            "retrain|paper-variation|0.2|VFA-Retrain|0.5|a8094fb9ff63b566"} <= set(planned)
    assert missing(plan.StudyPlan(cfg), stored, diagnostics) == []
    monkeypatch.setattr(plan, "TARGETING_VERSION", plan.TARGETING_VERSION + 1)
    assert missing(plan.StudyPlan(cfg), stored, diagnostics) == [
        "sweep chips 0 of 16 (0 of 4 cells complete)", "drift chips 0 of 8 (0 of 4 cells complete)",
        "arm chips 0 of 4 (0 of 2 cells complete)"]


# Computed on the code before the renovation (issue 22): the arms' keys hash ``asdict(RetrainConfig)``
# then, ``ArmSettings.keyed()`` now; a changed value would orphan every stored arm checkpoint and row.
DEMO_ARM_KEYS = {"va": "03dde1af3bde5b9c", "vfa": "c63407ab9900d5fd", "hwa": "f73e8adcec52b417",
                 "fair-loss": "5062ad3fffc6e7b8", "boundary": "14baffd361834ba6", "ft": "e2486cec70c351a7"}
QUICK_ARM_KEYS = {"va": "92f9f6c803bd4d6c", "vfa": "0ea9e0afad7aecb7", "hwa": "1506347dd99e2af2",
                  "fair-loss": "234bba62abfd298a", "boundary": "437db83c595d23fe", "ft": "966c489a352a8087"}


@pytest.mark.parametrize("quick, arm_keys, rows_digest, n_rows", [
    (False, DEMO_ARM_KEYS, "778f8cda86e82ce5", 88), (True, QUICK_ARM_KEYS, "4bb6022bff4c28df", 60)])
def test_row_keys_arm_keys_and_checkpoint_names_are_those_stored_before(quick, arm_keys, rows_digest, n_rows):
    import hashlib
    import json

    from fairxbar_aihw.study import load_study
    from fairxbar_aihw.study.config import StudyOverrides
    from fairxbar_aihw.study.plan import StudyPlan

    plan = StudyPlan(load_study("demo", StudyOverrides(quick=quick)))
    assert {arm: plan.arm_key(arm) for arm in arm_keys} == arm_keys  # the arms that existed then
    rows = plan.planned_rows()
    assert len(rows) == n_rows
    assert hashlib.sha256(json.dumps(sorted(rows.items())).encode()).hexdigest()[:16] == rows_digest
    if quick:
        assert plan.arm_checkpoint_name("vfa", "base") == "arm-vfa-70dbfefe1f448412.pt"
        assert "drift|pcm-ibm|1.0|F+A R|0.4|f149c713|t=2.592e+06" in rows
        assert "sweep|paper-variation|0.3|random [intersect]|0.4|d3a5fd1c" in rows
    else:
        assert plan.arm_checkpoint_name("va", "base") == "arm-va-7258c6b9ae0fe2c1.pt"
        assert plan.retrain_ideal_key("va") == "retrain-ideal|VA-Retrain|03dde1af"


def test_training_checkpoint_keys_are_those_stored_before():
    from fairxbar_aihw.study import load_study
    from fairxbar_aihw.study.config import StudyOverrides
    from fairxbar_aihw.training import TrainConfig
    from fairxbar_aihw.training.loop import checkpoint_key

    demo, quick = load_study("demo"), load_study("demo", StudyOverrides(quick=True))
    assert checkpoint_key("small-cnn", TrainConfig(**demo.train.model_dump(), seed=3), "fp") == "2626c0b40bc9af99"
    assert checkpoint_key("small-cnn", TrainConfig(**demo.train.model_dump(), seed=0), "fp",
                          {"pretrained": "abc"}) == "7fc906f0529ad2fd"
    assert checkpoint_key("small-cnn", TrainConfig(**quick.train.model_dump(), seed=1), "fp") == "7be1d3a29037d4b6"


def test_every_planned_row_key_parses_back_to_itself():
    from fairxbar_aihw.study import load_study
    from fairxbar_aihw.study.keys import RowKind
    from fairxbar_aihw.study.plan import StudyPlan

    for name in ("demo", "synth-resnet18", "synth-resnet18-gpu", "synth-vgg11", "compare-presets"):
        keys = StudyPlan(load_study(name)).planned_rows()
        assert {RowKey.parse(k).text() for k in keys} == set(keys)
    parsed = RowKey.parse("drift|pcm-ibm|1.0|F+A R [intersect]|0.4|f149c713|t=3600")
    assert (parsed.kind, parsed.fields, parsed.tag, parsed.t) == (
        RowKind.DRIFT, ("pcm-ibm", "1.0", "F+A R [intersect]", "0.4"), "f149c713", 3600.0)
    assert parsed.name() == "pcm-ibm 1.0 F+A R [intersect] 0.4 t=3600"
    assert RowKey.parse("prune|magnitude|0.5|1a2b3c4d").name() == "magnitude 0.5"
    assert RowKey.parse("baseline") == RowKey(RowKind.BASELINE)
    for bad in ("sweep|p|0.1", "nonsense|a", "retrain-ideal|VA|x|y|z"):
        with pytest.raises(ValueError):
            RowKey.parse(bad)


def test_a_method_knows_whether_it_targets_and_needs_masks():
    from fairxbar_aihw.saliency.methods import METHODS, MethodLabel, canonical
    from fairxbar_aihw.errors import UserError

    targeted = [m for m in METHODS if MethodLabel.parse(m).targeted]
    assert targeted[:4] == ["random", "FR", "FR-matched", "F+A R"] and "uniform" not in targeted
    assert not MethodLabel.parse("uniform").needs_masks and all(MethodLabel.parse(m).needs_masks for m in targeted)
    assert MethodLabel.parse("random") == MethodLabel("random", "exclude")
    assert MethodLabel.parse("F+A R", "intersect").text() == "F+A R [intersect]"
    assert canonical("F+A R [exclude]") == "F+A R" and canonical("FR", "intersect") == "FR"
    assert MethodLabel.split("VA-Retrain") == MethodLabel("VA-Retrain", None)  # any stored label, unchecked
    assert MethodLabel.split("F+A R [intersect]").is_fa and not MethodLabel.split("FR-matched [intersect]").is_fa
    for bad in ("FA", "FR [intersect]", "F+A R [both]"):
        with pytest.raises(UserError, match="unknown targeting method"):
            MethodLabel.parse(bad)
