"""Seeds side by side in worker processes: the same rows as one seed after another, a worker's
error or death ends the command in one line with its finished chips kept, and the plan of
workers and threads follows the cores and the seeds."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fairxbar_aihw.errors import UserError
from fairxbar_aihw.study.eta import StudyClock
from fairxbar_aihw.threads import WorkerPlan, plan_workers
from test_study import TINY, _cli, _env

THREE = {**TINY, "seeds": [0, 1, 2], "sweep": {**TINY["sweep"], "trials": 3}}


def _rows(db: Path) -> pd.DataFrame:
    """Every trial row with its seed, in a fixed order (timings are not rows)."""
    with sqlite3.connect(db) as conn:
        df = pd.read_sql_query("SELECT r.config_json, t.cell, t.trial, t.data_json FROM trials t JOIN runs r "
                               "USING(run_id) ORDER BY r.config_json, t.cell, t.trial", conn)
    df["seed"] = [json.loads(c)["seed"] for c in df.pop("config_json")]
    return df


def _home(tmp: Path, name: str, study: dict) -> Path:
    home = tmp / name
    (home / "studies").mkdir(parents=True)
    (home / "studies" / "tiny.yaml").write_text(yaml.safe_dump(study))
    return home


def test_plan_shares_the_cores_among_the_seeds():
    assert plan_workers(5, cores=2) == WorkerPlan(2, 1)  # the demo on 2 cores: 2 one-thread seeds at a time
    assert plan_workers(1, cores=16) == WorkerPlan(1, 16)  # one seed gets every core
    assert plan_workers(5, cores=16) == WorkerPlan(5, 3)
    assert plan_workers(3, workers=1, cores=2) == WorkerPlan(1, 2)
    assert plan_workers(3, workers=4, cores=2) == WorkerPlan(4, 1)
    assert plan_workers(5, threads=2, cores=2) == WorkerPlan(2, 2)  # the user's threads win
    assert plan_workers(5, cores=16, parallel=False) == WorkerPlan(1, 16)  # a GPU or Ray: one seed at a time


def test_time_left_is_shared_among_busy_workers():
    clock = StudyClock("s", [0, 1, 2, 3], {"train": 1.0, "sweep": 3.0}, workers=2)
    for seed in (0, 1):
        clock.finished(seed, "train", 10.0)
    # left: 4 sweeps at 30 s (scaled 10 s per predicted unit) + 2 trainings at 10 s, on 2 workers
    assert clock.remaining() == pytest.approx(4 * 30.0 + 2 * 10.0)
    assert clock.time_left() == pytest.approx((4 * 30.0 + 2 * 10.0) / 2)
    for seed in (0, 1, 2):
        clock.finished(seed, "sweep", 30.0)
    clock.finished(2, "train", 10.0)
    clock.finished(3, "train", 10.0)
    assert clock.time_left() == pytest.approx(30.0)  # one seed left: one worker busy, no sharing


def test_parallel_seeds_store_the_rows_of_one_after_another(tmp_path):
    one = _home(tmp_path, "one", THREE)
    two = _home(tmp_path, "two", THREE)
    _cli(one, "study", "tiny", "--workers", "1", "--threads", "1", "--no-progress")
    out = _cli(two, "study", "tiny", "--workers", "2", "--threads", "1")
    a, b = _rows(one / "runs" / "tiny" / "results.sqlite"), _rows(two / "runs" / "tiny" / "results.sqlite")
    assert sorted(set(b.seed)) == [0, 1, 2] and len(b) > 60
    pd.testing.assert_frame_equal(a, b)
    # the study's progress line came from the workers' stages, ending at 100%
    lines = [line for line in out.stderr.splitlines() if line.startswith("study tiny:")]
    assert len(lines) == 3 * 6 and lines[-1].startswith("study tiny: 100%") and lines[-1].endswith("done")
    report = (two / "reports" / "tiny" / "README.md").read_text()
    assert "across 3 training seeds" in report


def test_a_worker_error_reaches_the_parent_as_the_same_user_error(tmp_path, monkeypatch):
    from fairxbar_aihw.study.config import load_study
    from fairxbar_aihw.study.workers import SeedJob, compute_seeds

    home = _home(tmp_path, "err", THREE)
    for key, value in _env(home).items():
        if key.startswith("FAIRXBAR_"):
            monkeypatch.setenv(key, value)
    cfg = load_study("tiny")
    not_a_run_folder = tmp_path / "elsewhere"
    not_a_run_folder.mkdir()
    jobs = [SeedJob(cfg.for_seed(s), not_a_run_folder, 1) for s in (0, 1)]
    with pytest.raises(UserError, match="is not an opened run folder"):
        compute_seeds(jobs, 2)


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the workers")
def test_a_killed_worker_ends_the_study_in_one_line_and_a_rerun_finishes_it(tmp_path):
    slow = {**THREE, "sweep": {**THREE["sweep"], "trials": 40}}
    home = _home(tmp_path, "kill", slow)
    ref = _home(tmp_path, "ref", slow)
    proc = subprocess.Popen([sys.executable, "-m", "fairxbar_aihw.cli", "study", "tiny", "--workers", "2",
                             "--threads", "1", "--no-progress"], env=_env(home), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    db = home / "runs" / "tiny" / "results.sqlite"
    deadline = time.time() + 300
    killed = None
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        try:
            with sqlite3.connect(db) as conn:
                n = conn.execute("SELECT count(*) FROM trials").fetchone()[0]
        except sqlite3.Error:
            continue
        workers = [c for c in _children(proc.pid) if "spawn_main" in _cmdline(c)]  # not the resource tracker
        if n >= 10 and workers:
            killed = workers[-1]
            os.kill(killed, signal.SIGKILL)
            break
    assert killed is not None, "the study ended before a worker could be killed"
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "died" in lines[0] and "rerun the same command to resume" in lines[0]
    assert "resource_tracker" not in err  # a killed worker leaves no semaphore behind (it takes none)
    kept = len(_rows(db))
    assert kept >= 10  # the finished chips stayed
    _cli(home, "study", "tiny", "--workers", "2", "--threads", "1", "--no-progress")
    _cli(ref, "study", "tiny", "--workers", "1", "--threads", "1", "--no-progress")
    pd.testing.assert_frame_equal(_rows(db), _rows(ref / "runs" / "tiny" / "results.sqlite"))


def test_a_workers_bars_reach_the_parent_as_counts_and_its_other_lines_as_text():
    from tqdm import tqdm

    from fairxbar_aihw.study.worker_messages import BarUpdate, StderrRelay, TextLine

    class Queue(list):
        put = list.append

    messages = Queue()
    relay = StderrRelay(messages, 3)
    for _ in tqdm(range(5), desc="demo: Monte-Carlo chips", file=relay, mininterval=0):
        pass
    relay.write("a warning, ")
    relay.write("in two writes\n")
    bars = [m for m in messages if isinstance(m, BarUpdate)]
    assert bars[0] == BarUpdate(3, "demo: Monte-Carlo chips", 0, 5)
    assert bars[-1] == BarUpdate(3, "demo: Monte-Carlo chips", 5, 5)  # the end always reaches the parent
    assert len(bars) <= 3  # the updates in between: at most one a second
    assert [m for m in messages if isinstance(m, TextLine)] == [TextLine(3, "a warning, in two writes")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux /proc and PR_SET_PDEATHSIG")
def test_workers_end_when_the_study_process_is_killed(tmp_path):
    home = _home(tmp_path, "orphans", {**THREE, "sweep": {**THREE["sweep"], "trials": 40}})
    proc = subprocess.Popen([sys.executable, "-m", "fairxbar_aihw.cli", "study", "tiny", "--workers", "2",
                             "--threads", "1", "--no-progress"], env=_env(home), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    workers: list[int] = []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.5)
        workers = [c for c in _children(proc.pid) if "spawn_main" in _cmdline(c)]
    assert len(workers) == 2, "the workers did not start"
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup runs in the study's process
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(Path(f"/proc/{w}").exists() and _state(w) != "Z" for w in workers):
        time.sleep(0.5)
    assert not any(Path(f"/proc/{w}").exists() and _state(w) != "Z" for w in workers), "orphaned workers kept running"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


FULL_DISK_HOOK = """
import errno, multiprocessing, os, sqlite3
import fairxbar_aihw.store.results as results

def _full(self, *args, **kwargs):  # only in the workers: the parent's own writes still work
    if multiprocessing.parent_process() is None:
        return _write(self, *args, **kwargs)
    if os.environ["FULL_DISK"] == "sqlite":
        raise sqlite3.OperationalError("database or disk is full")
    raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

_write = results.ResultsStore.write_trial
results.ResultsStore.write_trial = _full
"""


@pytest.mark.parametrize("kind,fragment", [("sqlite", "results database: database or disk is full; free space"),
                                           ("os", "results.sqlite: No space left on device; free space")])
def test_a_full_disk_in_a_worker_is_the_one_line_of_one_process(tmp_path, kind, fragment):
    """A worker's full disk ends the study as ``--workers 1`` does (exit 2, one line), and no
    resource-tracker warnings of leaked semaphores follow the workers' end."""
    home = _home(tmp_path, "full", {**THREE, "drift": {"times": []}, "retrain": {"arms": []},
                                    "prune": {"kinds": []}})
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FULL_DISK_HOOK)
    env = _env(home)
    env.update(FULL_DISK=kind, PYTHONPATH=os.pathsep.join([str(hook), *sys.path]))
    proc = subprocess.run([sys.executable, "-m", "fairxbar_aihw.cli", "study", "tiny", "--workers", "2",
                           "--threads", "1", "--no-progress"], env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("note:")]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "resource_tracker" not in proc.stderr
