"""Results store: atomic trials under SIGKILL, resume without duplicates, runs kept apart."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from fairxbar_aihw.errors import UserError
from fairxbar_aihw.store import ResultsStore

WRITER = textwrap.dedent("""
    import sys, time
    from fairxbar_aihw.store import ResultsStore
    store = ResultsStore(sys.argv[1])
    run = store.register_run("kill", {"a": 1})
    done = store.done(run)
    for t in range(100000):
        if ("cell", t) in done:
            continue
        store.write_trial(run, "cell", t, t, {"value": float(t), "payload": "x" * 2000})
        print(t, flush=True)
        time.sleep(0.002)
""")


def test_sigkill_leaves_committed_trials_and_resume_fills_gaps(tmp_path):
    db = tmp_path / "r.sqlite"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(db)], stdout=subprocess.PIPE, text=True)
    seen = []
    while len(seen) < 40:
        seen.append(int(proc.stdout.readline()))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = ResultsStore(db)
    run = store.register_run("kill", {"a": 1})
    df = store.to_frame(run)
    # every acknowledged trial is there, intact, and nothing is partial
    assert set(seen) <= set(df["trial"])
    assert (df["value"] == df["trial"]).all()
    assert df["payload"].str.len().eq(2000).all()
    n_before = len(df)
    # resume: only missing trials are written
    for t in range(n_before + 10):
        store.write_trial(run, "cell", t, t, {"value": float(t), "payload": "x" * 2000})
    df2 = store.to_frame(run)
    assert len(df2) == n_before + 10
    assert df2["trial"].is_unique


def test_write_is_idempotent_and_runs_do_not_mix(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    a = store.register_run("s", {"x": 1, "y": [1, 2]})
    assert store.register_run("s", {"y": [1, 2], "x": 1}) == a  # key order does not matter
    b = store.register_run("s", {"x": 2, "y": [1, 2]})
    assert a != b
    assert store.write_trial(a, "c", 0, 11, {"m": 1.0})
    assert not store.write_trial(a, "c", 0, 11, {"m": 9.0})  # never overwritten
    store.write_trial(b, "c", 0, 11, {"m": 2.0})
    assert store.to_frame(a)["m"].tolist() == [1.0]
    assert store.to_frame(b)["m"].tolist() == [2.0]
    assert store.done(a) == {("c", 0)}


def test_export_and_meta(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    run = store.register_run("s", {})
    store.write_trials(run, [("c", t, t, {"m": t * 0.5}) for t in range(3)])
    store.set_meta(run, "k", {"a": [1, 2]})
    assert store.get_meta(run, "k") == {"a": [1, 2]}
    csv = store.export(run, tmp_path / "out.csv")
    assert csv.read_text().splitlines()[0] == "cell,trial,seed,m"
    pq = store.export(run, tmp_path / "out.parquet")
    import pandas as pd

    assert pd.read_parquet(pq)["m"].tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(UserError, match="unknown export format"):
        store.export(run, tmp_path / "out.xlsx")


def test_corrupt_database_is_a_clear_error(tmp_path):
    db = tmp_path / "bad.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(UserError, match="is corrupt .*move it aside"):
        ResultsStore(db)
