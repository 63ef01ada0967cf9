"""A study's reports: each seed's, and the across-seed report on top when it has several seeds."""
from __future__ import annotations

from pathlib import Path

from ..report import write_report
from ..report.across_seeds import write_across_seeds
from ..study.pipeline import StudyRun
from ..study.replicates import Study

ACROSS_SEED_META = ("dataset", "environment", "baseline", "groups", "timings", "eval_seconds")


def write_run_report(run: StudyRun, out: Path | None = None, study_seeds: int = 1, command: str | None = None
                     ) -> Path:
    """One seed's report (default: the run's report folder); ``study_seeds`` > 1 when it is one
    seed of a study with an across-seed report one folder up. An unfinished run's report says
    on top what is missing and ``command``, which finishes it."""
    return write_report(run.store, run.run_id, out or run.report_dir(claim=True), run.cfg, run.expected_cells(),
                        study_seeds, run.incomplete(command))


def write_study_report(study: Study) -> Path:
    """One seed: its report with the claims on top. Several: each seed's report in
    ``seed-N/`` and the across-seed report (claims, forest plot, per-seed models) on top.
    An unfinished run's reports say on top what is missing and how to finish it."""
    out = study.report_dir(claim=True)
    if len(study.seeds) == 1:
        return write_run_report(study.run(study.seeds[0]), out, command=study.command)
    for run in study.runs():
        write_run_report(run, out / f"seed-{run.cfg.seed}", study_seeds=len(study.seeds), command=study.command)
    return write_across_seeds(study.name, study.cfg, study.frames(), study.metas(ACROSS_SEED_META), out,
                              study.incomplete())


def run_study(study: Study) -> Path:
    """Every stage of every seed that is not done yet, then the report."""
    study.compute_all()
    return write_study_report(study)
