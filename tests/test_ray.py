"""Ray backend: a local 2-worker cluster gives the same table as the local backend, even when a
worker dies mid-task (its chips are re-run, nothing is duplicated)."""
import os
import sqlite3
import sys

import pandas as pd
import pytest
import yaml

ray = pytest.importorskip("ray")

from fairxbar_aihw.study import StudyRun, load_study  # noqa: E402
from fairxbar_aihw.study.stages import run_stage  # noqa: E402
from fairxbar_aihw.study.executors import RayExecutor, chip_task  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module

STUDY = {
    "dataset": {"name": "synthderm", "size": 16, "params": {"n": 240, "num_classes": 3}},
    "train": {"epochs": 1, "batch_size": 64},
    "saliency": {"samples_per_group": 32, "batch_size": 32},
    "sweep": {"methods": ["uniform", "FR", "F+A R"], "targets": [0.5],
              "hardware": [{"preset": "paper-variation", "intensities": [0.2]}], "trials": 10},
    "drift": {"times": [1.0, 86400.0], "presets": ["pcm-ibm"], "methods": ["F+A R"], "trials": 3},
}


def _table(db):
    with sqlite3.connect(db) as conn:
        return pd.read_sql_query("SELECT cell, trial, seed, data_json FROM trials ORDER BY cell, trial", conn)


def killed_once(*args):
    """A chip task whose first run anywhere dies like a crashed worker (the marker file says it did)."""
    marker = os.environ["TEST_KILL_MARKER"]
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return chip_task(*args)


def _run(tmp_path, monkeypatch, runs, executor=None):
    monkeypatch.setenv("FAIRXBAR_STUDIES", str(tmp_path / "studies"))
    monkeypatch.setenv("FAIRXBAR_RUNS", str(tmp_path / runs))
    run = StudyRun(load_study("tiny"), progress=False, executor=executor)
    run.compute_saliency()
    run_stage(run, "sweep")
    run_stage(run, "drift")
    return _table(run.store.path)


def test_ray_matches_local_and_survives_a_dead_worker(tmp_path, monkeypatch):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "tiny.yaml").write_text(yaml.safe_dump(STUDY))
    local = _run(tmp_path, monkeypatch, "runs-local")
    marker = tmp_path / "killed-once"
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("RAY_USAGE_STATS_ENABLED", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    try:  # the tool starts the local cluster itself, with its offline settings
        executor = RayExecutor(task=killed_once, runtime_env={"env_vars": {"TEST_KILL_MARKER": str(marker)}})
        remote = _run(tmp_path, monkeypatch, "runs-ray", executor)
    finally:
        ray.shutdown()
    assert marker.exists()  # a worker really died once
    assert not (home / ".ray").exists()  # no auth token (or anything else) written to the home folder
    assert len(local) == 1 + 3 * 10 + 3 * 2
    pd.testing.assert_frame_equal(local, remote)
