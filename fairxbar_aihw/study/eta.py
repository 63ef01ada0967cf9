"""The whole study's progress and time left, across seeds and stages, in one line.

Why: the per-stage bars say how long *this* stage takes; a 5-seed study is 30 stages, and the
question a user has is when the whole study ends. Every seed of a study does the same work,
so a stage measured on one seed predicts it on the next. Before a stage has been measured, its
cost is predicted from the plan's counts in *eval-equivalents* (one digital test-set evaluation
of the model, timed in this process: the unit docs/benchmarks.md uses), scaled by how far the
stages measured so far ran from their prediction.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

from . import stages


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else (f"{m} min {s:02d} s" if m else f"{s} s")


@dataclass
class StudyClock:
    """Overall progress of a study: ``predicted[stage]`` is one seed's predicted cost of each
    stage in eval-equivalents (0: the study has no such stage), ``eval_seconds`` one digital
    test-set evaluation if known. Call ``finished(seed, stage, seconds, computed)`` after each stage;
    ``computed`` is False when the stage only loaded cached work (its time says nothing about
    the stage's cost). ``workers``: seeds computed side by side, so the time left is the work
    left shared among the workers still busy."""

    name: str
    seeds: list[int]
    predicted: dict[str, float]
    echo: Callable[[str], None] | None = None
    eval_seconds: float | None = None
    workers: int = 1
    done: set[tuple[int, str]] = field(default_factory=set)
    measured: dict[str, list[float]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    running: dict[tuple[int, str], float] = field(default_factory=dict)  # (seed, stage) → when it began

    def stages(self) -> list[str]:
        return [s for s in stages.REGISTRY.names if self.predicted.get(s, 0) > 0]

    def _scale(self) -> float:
        """Seconds per predicted eval-equivalent: the measured stages' actual over predicted cost,
        or one evaluation's time before anything was measured."""
        actual = sum(sum(v) for v in self.measured.values())
        predicted = sum(self.predicted[s] * len(v) for s, v in self.measured.items())
        if predicted > 0 and actual > 0:
            return actual / predicted
        return self.eval_seconds if self.eval_seconds is not None else math.nan

    def estimate(self, stage: str) -> float:
        """Seconds one seed's ``stage`` is expected to take."""
        if self.measured.get(stage):
            return sum(self.measured[stage]) / len(self.measured[stage])
        return self.predicted.get(stage, 0.0) * self._scale()

    def begin(self, seed: int, stage: str) -> None:
        """A stage of a seed began (its time so far counts against what is left of it)."""
        self.running[(seed, stage)] = time.monotonic()

    def left_on(self, seed: int, stage: str) -> float:
        """Seconds left of one seed's stage: its estimate, less the time it has run if it is running
        (at least a tenth of the estimate: a stage running late is not done)."""
        estimate = self.estimate(stage)
        began = self.running.get((seed, stage))
        if began is None:
            return estimate
        return max(0.1 * estimate, estimate - (time.monotonic() - began))

    def left_of(self, seed: int) -> float:
        """Seconds of work left on one seed."""
        return sum(self.left_on(seed, s) for s in self.stages() if (seed, s) not in self.done)

    def remaining(self) -> float:
        """Seconds of work left across every seed and stage not done yet."""
        return sum(self.left_of(seed) for seed in self.seeds)

    def time_left(self) -> float:
        """Wall seconds left as the workers take the work (``schedule.Schedule``): what is running
        keeps its worker; then a free worker takes the next seed's preparation (training and
        saliency), else a later stage (sweep, arms, ...) of a prepared seed, else waits for a stage
        to become ready; the last worker to finish gives the time left (one worker: all the work
        left). Reports are not priced."""
        if math.isnan(self.remaining()):
            return math.nan
        free = [0.0] * max(1, self.workers)

        def take(seconds: float) -> float:  # on the first free worker; returns when it is done
            i = free.index(min(free))
            free[i] += seconds
            return free[i]

        ready: list[tuple[float, float]] = []  # later stages: (when ready, seconds), in the order handed out
        unprepared: list[tuple[float, list[float]]] = []  # (preparation seconds, its later stages' seconds)
        for seed in self.seeds:
            todo = [s for s in self.stages() if (seed, s) not in self.done]
            preparation = stages.REGISTRY.prepare
            prep = [s for s in todo if s in preparation]
            later = sorted((s for s in todo if s not in preparation), key=lambda s: self.left_on(seed, s), reverse=True)
            for stage in [s for s in later if (seed, s) in self.running]:
                take(self.left_on(seed, stage))
                later.remove(stage)
            costs = [self.left_on(seed, s) for s in later]
            if not prep:
                ready += [(0.0, c) for c in costs]
            elif any((seed, s) in self.running for s in prep):
                at = take(sum(self.left_on(seed, s) for s in prep))
                ready += [(at, c) for c in costs]
            else:
                unprepared.append((sum(self.left_on(seed, s) for s in prep), costs))
        while ready or unprepared:
            i = free.index(min(free))
            now = [k for k, (at, _) in enumerate(ready) if at <= free[i]]
            if unprepared:
                prep_seconds, costs = unprepared.pop(0)
                free[i] += prep_seconds
                ready += [(free[i], c) for c in costs]
            elif now:
                free[i] += ready.pop(now[0])[1]
            else:
                at, cost = ready.pop(min(range(len(ready)), key=lambda k: ready[k][0]))
                free[i] = at + cost
        return max(free)

    def fraction(self) -> float:
        """Share of the study's (estimated) work done."""
        total = sum(self.estimate(s) for s in self.stages()) * len(self.seeds)
        return 1.0 - self.remaining() / total if total > 0 else 1.0

    def finished(self, seed: int, stage: str, seconds: float, computed: bool = True) -> None:
        """Record one stage of one seed; print the overall line."""
        stages.REGISTRY.stage(stage)  # a ValueError for a stage the registry does not have
        self.done.add((seed, stage))
        self.running.pop((seed, stage), None)
        if computed and seconds > 0:
            self.measured.setdefault(stage, []).append(float(seconds))
        if self.echo is not None:
            self.echo(self.line(seed, stage))

    def line(self, seed: int, stage: str) -> str:
        """``study demo: 40% · seed 2 of 5: sweep done · 3 min 10 s elapsed, about 4 min 45 s left``."""
        k = self.seeds.index(seed) + 1 if seed in self.seeds else 0
        names = self.stages()
        n_done = sum((s, st) in self.done for s in self.seeds for st in names)
        left = self.time_left()
        if n_done >= len(self.seeds) * len(names):
            tail = "done"
        else:
            tail = "time left known after the first computed stage" if math.isnan(left) else f"about {_clock(left)} left"
        share = "" if math.isnan(left) else f"{100 * self.fraction():.0f}% · "
        return (f"study {self.name}: {share}seed {seed} ({k} of {len(self.seeds)}): "
                f"{stage} done · {_clock(time.monotonic() - self.started)} elapsed, {tail}")
