"""Which piece of a study a free worker takes next.

Why this order: a seed's preparation (the registry's preparing stages: training and saliency)
must come first, but its later stages need nothing of each other, so they go out one by one,
longest first, before the next seed's preparation: the last seed's stages then spread over the
workers instead of leaving all but one idle. A seed's report follows as soon as its stages are
done (it frees the seed's memory sooner). ``eta.StudyClock.time_left`` predicts this order.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """One piece of a seed: stages to compute, in order, or (``stages`` empty) the seed's report."""

    seed: int
    stages: tuple[str, ...]


class Schedule:
    """Which tasks are ready: a seed's later stages once it is prepared (in the order given, earliest
    seed first), its report once they are all done; the next seed's preparation when no later
    stage is waiting."""

    def __init__(self, seeds: list[int], prepare: tuple[str, ...], later: list[str], reports: bool):
        self.prepare, self.later, self.reports = prepare, later, reports
        self.waiting = list(seeds)  # not yet prepared
        self.ready: list[Task] = []
        self.open: dict[int, int] = {}  # seed → its later-stage tasks not done yet

    def next(self) -> Task | None:
        """The next task to hand out (None: nothing is ready now)."""
        if self.ready:
            return self.ready.pop(0)
        if self.waiting:
            return Task(self.waiting.pop(0), self.prepare)
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
