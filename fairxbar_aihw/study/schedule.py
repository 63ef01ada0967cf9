"""Which piece of a study a free worker takes next.

Why this order: a seed's preparation (the registry's preparing stages: training and saliency)
gates all its other stages, so it is the critical path and goes out first, every seed's before any
later stage; the later stages need nothing of each other, so they go out one by one, each seed's
longest first, and the last ones to run are the last seed's short stages, which spread over the
workers. Handing out later stages first (the order before) left one worker idle through the last
seed's training whenever the seeds did not divide evenly among the workers (the demo: 5 seeds on 2
workers, ~13 s of 184 idle, issue 33). A seed's report goes out as soon as its stages are done,
before other later stages (the user sees each seed's report while the rest computes).
``eta.StudyClock.time_left`` predicts this order.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """One piece of a seed: stages to compute, in order, or (``stages`` empty) the seed's report."""

    seed: int
    stages: tuple[str, ...]


class Schedule:
    """Which tasks are ready: the next seed's preparation while one is waiting; then a seed's later
    stages once it is prepared (in the order given, earliest seed first), its report first once they
    are all done."""

    def __init__(self, seeds: list[int], prepare: tuple[str, ...], later: list[str], reports: bool):
        self.prepare, self.later, self.reports = prepare, later, reports
        self.waiting = list(seeds)  # not yet prepared
        self.ready: list[Task] = []
        self.open: dict[int, int] = {}  # seed → its later-stage tasks not done yet

    def next(self) -> Task | None:
        """The next task to hand out (None: nothing is ready now)."""
        if self.ready and not self.ready[0].stages:  # a finished seed's report
            return self.ready.pop(0)
        if self.waiting:
            return Task(self.waiting.pop(0), self.prepare)
        if self.ready:
            return self.ready.pop(0)
        return None

    def done(self, task: Task) -> None:
        """``task`` finished: what it unblocks becomes ready."""
        if task.stages == self.prepare:
            self.ready += [Task(task.seed, (stage,)) for stage in self.later]
            self.open[task.seed] = len(self.later)
            if not self.later:
                self._finished(task.seed)
        elif task.stages:
            self.open[task.seed] -= 1
            if not self.open[task.seed]:
                self._finished(task.seed)

    def _finished(self, seed: int) -> None:
        if self.reports:
            self.ready.insert(0, Task(seed, ()))  # a report first: it frees the seed's memory sooner
