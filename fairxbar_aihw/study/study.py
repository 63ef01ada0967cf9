"""A study over its training seeds: one run folder and one results database, one run per seed.

Why seeds inside a study: chip intervals are conditional on one trained model, and the same demo
retrained on another CPU flipped its headline. Each seed is a full replicate (data split or
generation, weight init, data order, curvature probes, chips); the report judges every claim
across them. Each seed is its own run in the shared database, so resuming skips finished seeds
and finished chips of the seed that was interrupted. Reports are the application layer's
(``app``): the engine computes and stores. Opened read-only (reports, exports), a study reads its
seeds as ``StoredRun`` and never loads torch.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pandas as pd

from ..errors import DataWarning, UserError
from ..paths import check_name
from ..threads import WorkerPlan
from . import stages
from .eta import StudyClock
from .keys import RowKind
from .progress import default_command, incomplete_line
from .runfolder import open_shared_folder, owner_of, report_folder
from .schema import StudyConfig
from .stored import StoredRun

if TYPE_CHECKING:
    from .executors import Executor
    from .pipeline import StudyRun


def _echo(line: str) -> None:
    """The study's progress line on stderr, printed above any live progress bar."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


class Study:
    """Every seed of a resolved study; computes lazily through each seed's StudyRun."""

    def __init__(self, cfg: StudyConfig, data_root: str | None = None, progress: bool = True, fresh: bool = False,
                 tag: str = "", executor: "Executor | None" = None, read_only: bool = False,
                 command: str | None = None, workers: WorkerPlan | None = None):
        """``command`` is how the user computes this study (what an unfinished report tells them to run);
        ``workers`` how many seeds ``compute_all`` runs side by side, with how many threads each
        (default: one at a time, in this process)."""
        self.cfg = cfg
        self.workers = workers or WorkerPlan(1, 0)
        self.command = command or default_command(cfg)
        self.name = check_name(cfg.name + tag, "run")
        self.folder = open_shared_folder(self.name, cfg, fresh, read_only)
        self.store = self.folder.store
        self.read_only = read_only
        self._settings = dict(data_root=data_root, progress=progress, tag=tag, executor=executor)
        self._runs: dict[int, Any] = {}
        self._warned: set[str] = set()
        self.seeds = list(cfg.seeds)

    def run(self, seed: int) -> "StudyRun":
        """Seed ``seed``'s run (opened on first use): a ``StudyRun`` that computes, or, opened
        read-only, the ``StoredRun`` it stored."""
        if seed not in self._runs:
            cfg = self.cfg.for_seed(seed)
            if self.read_only:
                self._runs[seed] = StoredRun(cfg, self.folder, self._settings["tag"])
            else:
                from .pipeline import StudyRun

                self._runs[seed] = StudyRun(cfg, folder=self.folder, **self._settings)
        return self._runs[seed]

    def runs(self) -> Iterator["StudyRun"]:
        for seed in self.seeds:
            yield self.run(seed)

    def close(self) -> None:
        self.folder.close()

    def report_dir(self, claim: bool = False) -> Path:
        """``docs/reports/NAME``, refused if another study or audit wrote it; ``claim`` marks it ours."""
        return report_folder(self.name, owner_of(self.cfg), claim)

    def compute_all(self, then: Callable[["StudyRun"], Any] | None = None) -> None:
        """Every stage of every seed that is not done yet, with one line of the whole study's
        progress and time left after each stage (unless progress is off); in worker processes
        when the plan has several workers and the chips run here on the CPU. ``then(run)``
        follows each seed's computation, in the process that computed it (a seed's report,
        written while other seeds compute); with workers it must be picklable (a module-level
        function, or a partial of one)."""
        from .executors import LocalExecutor
        from .workers import SeedJob, compute_seeds

        first = self.run(self.seeds[0])
        executor = self._settings["executor"]
        workers = self.workers.workers if self.cfg.device == "cpu" and (
            executor is None or isinstance(executor, LocalExecutor)) else 1
        if workers > 1:
            self._load_first_data(first)
        predicted = stages.seed_work(first)
        clock = StudyClock(self.name, self.seeds, predicted, echo=_echo, workers=workers) \
            if self._settings["progress"] else None
        if workers == 1:
            for run in self.runs():
                stages.compute_stages(run, clock=clock)
                if then is not None:
                    then(run)
            return
        jobs = [SeedJob(self.cfg.for_seed(seed), self.folder.path, self.workers.threads,
                        self._settings["data_root"], self._settings["tag"], then, bool(self._settings["progress"]))
                for seed in self.seeds]
        later = sorted(stages.REGISTRY.later, key=lambda s: -predicted.get(s, 0.0))
        compute_seeds(jobs, workers, clock, echo_warning=self._warn_once, prepare=stages.REGISTRY.prepare, later=later,
                      echo=_echo)
        self._runs.clear()  # the workers wrote the database: reopen each seed's run from it

    def _warn_once(self, text: str) -> None:
        """A data warning, once, from whichever process saw it first."""
        if text not in self._warned:
            self._warned.add(text)
            _echo(f"warning: {text}")

    def _load_first_data(self, first: "StudyRun") -> None:
        """The first seed's data, here before the workers start (a real dataset's decoded cache is
        built once), its data warnings counted as shown."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            first.load_data()
        for w in caught:
            if issubclass(w.category, DataWarning):
                self._warn_once(str(w.message))
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)

    def frames(self) -> dict[int, pd.DataFrame]:
        """Each seed's rows that the current config asks for."""
        out = {}
        for run in self.runs():
            df = run.store.to_frame(run.run_id)
            if df.empty or "kind" not in df or not (df["kind"] == RowKind.BASELINE).any():
                raise UserError(f"seed {run.cfg.seed} of study '{self.name}' has no results yet; run "
                                f"`fairxbar-aihw study {self.cfg.name}` to finish it")
            out[run.cfg.seed] = df[df["cell"].isin(run.expected_cells())].reset_index(drop=True)
        return out

    def incomplete(self) -> str:
        """One line saying what the stored rows lack of the plan, per seed, and the command that
        finishes them ("" when every seed is complete)."""
        return incomplete_line({run.cfg.seed: run.missing() for run in self.runs()}, self.command)

    def metas(self, keys: tuple[str, ...]) -> dict[int, dict[str, Any]]:
        """Each seed's recorded metadata under ``keys`` ({} where unset)."""
        return {run.cfg.seed: {k: run.meta(k, {}) for k in keys} for run in self.runs()}

    def export(self, out: str, force: bool = False) -> Path:
        """Every seed's trial rows in one CSV or Parquet file, with a ``study_seed`` column
        (an existing file is replaced only with ``force``)."""
        return self.store.export([r.run_id for r in self.runs()], out, study_seeds=self.seeds, force=force)
