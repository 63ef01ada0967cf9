"""A study's reports: each seed's, and the across-seed report on top when it has several seeds."""
from __future__ import annotations

from functools import partial
from pathlib import Path

from ..report import write_report
from ..report.across_seeds import write_across_seeds
from ..study.stored import StoredRun
from ..study.study import Study

ACROSS_SEED_META = ("dataset", "environment", "baseline", "groups", "timings", "eval_seconds")


def write_run_report(run: StoredRun, out: Path | None = None, study_seeds: int = 1, command: str | None = None
                     ) -> Path:
    """One seed's report (default: the run's report folder); ``study_seeds`` > 1 when it is one
    seed of a study with an across-seed report one folder up. An unfinished run's report says
    on top what is missing and ``command``, which finishes it."""
    return write_report(run.store, run.run_id, out or run.report_dir(claim=True), run.cfg, run.expected_cells(),
                        study_seeds, run.incomplete(command))


def write_seed_report(run: StoredRun, out: Path, study_seeds: int, command: str) -> Path:
    """Seed ``run``'s report in ``out/seed-N/`` of a study with ``study_seeds`` seeds (module level:
    a seed's worker process writes it as soon as the seed is computed)."""
    return write_run_report(run, out / f"seed-{run.cfg.seed}", study_seeds=study_seeds, command=command)


def write_study_report(study: Study, seed_reports: bool = True) -> Path:
    """One seed: its report with the claims on top. Several: each seed's report in
    ``seed-N/`` (unless ``seed_reports`` is False: already written) and the across-seed report
    (claims, forest plot, per-seed models) on top. An unfinished run's reports say on top what
    is missing and how to finish it."""
    out = study.report_dir(claim=True)
    if len(study.seeds) == 1:
        return write_run_report(study.run(study.seeds[0]), out, command=study.command)
    if seed_reports:
        for run in study.runs():
            write_seed_report(run, out, len(study.seeds), study.command)
    return write_across_seeds(study.name, study.cfg, study.frames(), study.metas(ACROSS_SEED_META), out,
                              study.incomplete())


def run_study(study: Study) -> Path:
    """Every stage of every seed that is not done yet, then the report; with several seeds, each
    seed's report is written as soon as that seed is computed (beside the seeds still computing)."""
    if len(study.seeds) == 1:
        study.compute_all()
        return write_study_report(study)
    out = study.report_dir(claim=True)
    study.compute_all(then=partial(write_seed_report, out=out, study_seeds=len(study.seeds), command=study.command))
    return write_study_report(study, seed_reports=False)
