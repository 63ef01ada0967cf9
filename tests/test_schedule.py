"""The order workers take a study's tasks in, played out with known stage times."""
import pytest

from fairxbar_aihw.study.eta import StudyClock
from fairxbar_aihw.study.schedule import Schedule

PREPARE = ("train", "saliency")
LATER = ["arms", "sweep", "prune", "drift"]  # longest first, as the study gives them
SECONDS = {"train": 11.0, "saliency": 1.0, "arms": 24.0, "sweep": 19.0, "prune": 2.0, "drift": 2.0}


def play(seeds: int, workers: int, report: float = 0.0) -> tuple[float, list[tuple[float, int, tuple[str, ...]]]]:
    """Event by event: each idle worker takes ``Schedule.next()``; returns the makespan and who
    started what when."""
    schedule = Schedule(list(range(seeds)), PREPARE, LATER, reports=report > 0)
    now, running, started = 0.0, {}, []
    while True:
        for w in range(workers):
            if w not in running and (task := schedule.next()) is not None:
                cost = sum(SECONDS[s] for s in task.stages) if task.stages else report
                running[w] = (now + cost, task)
                started.append((now, task.seed, task.stages))
        if not running:
            return now, started
        w = min(running, key=lambda k: running[k][0])
        now, task = running.pop(w)
        schedule.done(task)


def test_every_preparation_goes_out_before_any_later_stage():
    _, started = play(5, 2)
    kinds = [stages == PREPARE for _, _, stages in started]
    assert kinds == [True] * 5 + [False] * 20
    assert [seed for _, seed, stages in started if stages == PREPARE] == [0, 1, 2, 3, 4]


def test_five_seeds_on_two_workers_leave_no_worker_idle_through_the_last_training():
    """5 × (12 s + 47 s) of work on 2 workers: the old order (later stages first) ran the last seed's
    training alone; now the workers finish within the last short stages of each other."""
    makespan, _ = play(5, 2)
    total = 5 * sum(SECONDS.values())
    assert makespan == pytest.approx(148.0)  # the work split 148 / 147: no idle worker but the last 1 s
    assert makespan - total / 2 <= max(SECONDS[s] for s in ("prune", "drift"))


def test_a_finished_seeds_report_goes_out_before_the_next_later_stage():
    _, started = play(3, 1, report=1.0)
    order = [(seed, stages) for _, seed, stages in started]
    assert order.index((0, ())) == order.index((0, ("drift",))) + 1


def test_the_clock_predicts_the_schedule():
    """``StudyClock.time_left`` models this order: before any stage ran it gives the makespan the
    schedule plays out (stage times set as measured)."""
    for seeds, workers in ((5, 2), (3, 2), (4, 3), (2, 1)):
        clock = StudyClock("s", list(range(seeds)), {s: 1.0 for s in SECONDS}, workers=workers)
        clock.measured = {s: [t] for s, t in SECONDS.items()}
        assert clock.time_left() == pytest.approx(play(seeds, workers)[0]), (seeds, workers)
