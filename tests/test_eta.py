"""The whole study's progress line: time left from the stages measured so far and the plan's counts."""
import math

import pytest

from fairxbar_aihw.study.eta import StudyClock
from fairxbar_aihw.study.stages import predicted_work


def test_time_left_uses_each_measured_stage_and_scales_the_unmeasured_ones():
    lines = []
    clock = StudyClock("demo", [0, 1, 2], {"train": 100.0, "sweep": 300.0, "arms": 0.0}, echo=lines.append)
    assert clock.stages() == ["train", "sweep"]  # a stage the study does not have is not counted
    assert math.isnan(clock.remaining())  # nothing measured, no evaluation timed: unknown, not made up
    clock.finished(0, "train", 20.0)
    # train measured at 20 s per seed; sweep predicted 300 eval-equivalents at the measured 0.2 s each
    assert clock.remaining() == pytest.approx(2 * 20.0 + 3 * 60.0)
    assert clock.fraction() == pytest.approx(20.0 / (3 * 80.0))
    clock.finished(0, "sweep", 30.0)
    assert clock.remaining() == pytest.approx(2 * 20.0 + 2 * 30.0)
    assert lines[-1].startswith("study demo: 33% · seed 0 (1 of 3): sweep done · ")
    assert lines[-1].endswith("about 1 min 40 s left")
    for seed in (1, 2):
        for stage in ("train", "sweep"):
            clock.finished(seed, stage, 25.0)
    assert clock.remaining() == 0 and lines[-1].endswith(", done")


def test_before_any_stage_the_timed_evaluation_prices_the_plan():
    clock = StudyClock("s", [0], {"train": 10.0, "sweep": 40.0}, eval_seconds=0.5)
    assert clock.remaining() == pytest.approx(25.0)
    with pytest.raises(ValueError, match="unknown stage"):
        clock.finished(0, "lunch", 1.0)


def test_predicted_work_counts_the_plans_chips():
    from fairxbar_aihw.study import load_study
    from fairxbar_aihw.study.plan import StudyPlan

    plan = StudyPlan(load_study("demo"))
    work = predicted_work(plan, n_train=3600, n_val=1200, n_test=1200)
    rows = plan.planned_rows()
    assert work["sweep"] == sum(n for k, n in rows.items() if k.startswith("sweep|"))
    assert work["drift"] == sum(n for k, n in rows.items() if k.startswith("drift|"))
    cfg = plan.cfg
    assert work["train"] == pytest.approx(cfg.train.epochs * (3 * 3600 + 1200) / 1200)
    assert predicted_work(plan, 3600, 1200, 1200, trains=False)["train"] == 0


def test_idle_threads_sleep_unless_the_user_chose():
    from fairxbar_aihw.threads import set_wait_policy

    env = {}
    assert set_wait_policy(env, torch_loaded=False) == "OMP_WAIT_POLICY=PASSIVE"
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    for mine in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "300000"}):
        env = dict(mine)
        set_wait_policy(env, torch_loaded=False)
        assert env == mine  # left as the user set it
    env = {}
    assert set_wait_policy(env, torch_loaded=True).startswith("libgomp's default") and env == {}  # too late: says so


def test_the_command_line_sets_the_wait_policy_before_torch_loads():
    import subprocess
    import sys

    code = ("import os, sys; sys.argv = ['fairxbar-aihw', 'presets']\n"
            "from fairxbar_aihw.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "PASSIVE False"


def test_a_running_stage_counts_only_what_is_left_of_it(monkeypatch):
    from fairxbar_aihw.study import eta

    now = [100.0]
    monkeypatch.setattr(eta.time, "monotonic", lambda: now[0])
    clock = StudyClock("s", [0], {"train": 1.0, "sweep": 3.0, "arms": 4.0}, workers=2)
    clock.finished(0, "train", 10.0)  # 10 s per predicted unit: sweep 30 s, arms 40 s
    assert clock.time_left() == pytest.approx(40.0)  # the two stages side by side
    clock.begin(0, "arms")
    now[0] += 25.0
    assert clock.left_on(0, "arms") == pytest.approx(15.0)
    assert clock.time_left() == pytest.approx(30.0)  # the sweep not begun is now the longer
    clock.begin(0, "sweep")
    now[0] += 25.0
    assert clock.left_on(0, "arms") == pytest.approx(4.0)  # overdue: a tenth of its estimate, not zero
    assert clock.time_left() == pytest.approx(5.0)
    clock.finished(0, "arms", 50.0)
    assert (0, "arms") not in clock.running
