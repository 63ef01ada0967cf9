"""The Monte-Carlo sweep: which chips are still missing, run them on an executor, commit each one.

Resumable by construction: a chip counts as done only when all its rows are in the store, and
the store ignores a (cell, trial) it already holds, so a killed sweep resumes where it stopped.
"""
from __future__ import annotations

from typing import Iterable

from tqdm import tqdm

from ..models import Masks
from ..hardware.presets import Preset
from ..store import ResultsStore
from .chips import ChipEvaluator, Job
from .executors import Executor, LocalExecutor
from .plan import Cell, cell_key


def missing_work(jobs: Iterable[Job], store: ResultsStore, run_id: str, trials: int,
                 times: list[float | None]) -> list[tuple[Cell, Preset, Masks | None, list[int]]]:
    """The (cell, trials) still to run: a chip counts as done only when all its time rows are stored."""
    done = store.done(run_id)
    todo = []
    for cell, preset, masks in jobs:
        missing = [t for t in range(trials) if not all((cell_key(cell, tt), t) in done for tt in times)]
        if missing:
            todo.append((cell, preset, masks, missing))
    return todo


def run_cells(
    evaluator: ChipEvaluator,
    jobs: Iterable[Job],
    store: ResultsStore,
    run_id: str,
    trials: int,
    study_seed: int,
    executor: Executor | None = None,
    drift_times: list[float] | None = None,
    progress: bool = True,
    desc: str = "chips",
) -> int:
    """Run every missing (cell, trial) on ``executor`` (default: in this process); each finished
    chip is one committed transaction, written by this process alone.

    With ``drift_times`` a chip is programmed once and evaluated at each time (one row per time,
    all committed together). Returns the number of chips run now.
    """
    times: list[float | None] = list(drift_times) if drift_times else [None]
    todo = missing_work(jobs, store, run_id, trials, times)
    total = sum(len(m) for *_, m in todo)
    with tqdm(total=total, desc=desc, disable=not progress or total == 0, unit="chip") as bar:
        for rows in (executor or LocalExecutor()).run(evaluator, todo, study_seed, times):
            store.write_trials(run_id, rows)
            bar.update(len({r[1] for r in rows}))
    return total
