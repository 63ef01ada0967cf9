"""The study commands: run every stage (``study``, ``seeds``), one stage (``train``, ``saliency``,
``inject``, ``retrain``, ``drift``), or read a finished run (``report``, ``export``)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import click

from .options import (RUN_OPTIONS, SELECT_OPTIONS, open_study, parse_seeds, select_options, study_options,
                      with_options)

SEED_LIST = re.compile(r"[\d,\s]*\d[\d,\s]*")  # --replicate: digits and commas are seeds, anything else a folder


@click.command()
@with_options(SELECT_OPTIONS + RUN_OPTIONS)
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated training seeds.")
def seeds(**kw: Any) -> None:
    """Alias of `study NAME --seeds ...` (seeds now live inside a study and its one report)."""
    from ..app import run_study

    click.echo(f"note: `seeds` runs `fairxbar-aihw study {kw['name']} --seeds {kw['seeds']}`", err=True)
    click.echo(f"report: {run_study(open_study(**kw))}")


@click.command()
@study_options
def study(**kw: Any) -> None:
    """Run every stage of a study that is not done yet, then write its report."""
    from ..app import run_study

    path = run_study(open_study(**kw))
    click.echo(f"report: {path}")


@click.command()
@study_options
def train(**kw: Any) -> None:
    """Train (or load) the baseline model of each seed."""
    for run in open_study(**kw).runs():
        _, ckpt = run.train_baseline()
        t = ckpt["test"]
        click.echo(f"seed {run.cfg.seed} baseline: test macro-F1 {t['f1_macro']:.4f}, EOdds {t['eodds']:.4f}, "
                   f"accuracy by group 0={t['per_group'][0]['accuracy']:.4f} 1={t['per_group'][1]['accuracy']:.4f}")


@click.command()
@study_options
def saliency(**kw: Any) -> None:
    """Compute (or load) per-group curvature and the saliency ranks of each seed."""
    for run in open_study(**kw).runs():
        run.compute_saliency()
        for target in run.cfg.sweep.targets:
            for label in run.plan.fa_labels():
                m = run.masks(label, target)
                total = sum(v.numel() for v in m.values())
                click.echo(f"seed {run.cfg.seed}: {label} at {100 * target:g}%: "
                           f"{sum(int(v.sum()) for v in m.values())} of {total} weights targeted")


def _stage(kw: dict[str, Any], what: str, work: Callable[[Any], int]) -> None:
    """Run one stage on every seed (after preparing it) and say how much was new."""
    opened = open_study(**kw)
    n = 0
    for run in opened.runs():
        run.prepare()
        n += work(run)
    click.echo(f"{n} {what} run; results in {opened.store.path}")


@click.command()
@study_options
def inject(**kw: Any) -> None:
    """Run the Monte-Carlo error-injection sweep of each seed (resumable)."""
    _stage(kw, "chips", lambda run: run.inject())


@click.command()
@study_options
def retrain(**kw: Any) -> None:
    """Run the study's mitigation arms (VA/VFA retraining, HWA, boundary, pruning) and their chips."""
    _stage(kw, "arm chips/rows", lambda run: run.retrain() + run.prune())


@click.command()
@study_options
def drift(**kw: Any) -> None:
    """Evaluate fairness over time after programming (the study's drift section)."""
    _stage(kw, "drift chips", lambda run: run.drift())


@click.command()
@select_options
@click.option("--replicate", default=None, metavar="SEEDS|FOLDER",
              help="Set the claims beside another run's on disjoint seeds: fresh seeds of this study's run folder "
              "(e.g. 5,6,7,8,9) or another report folder of this study; writes replication.md and .csv beside "
              "the report.")
def report(replicate: str | None, **kw: Any) -> None:
    """Rewrite the markdown report from the results database (read-only: computes nothing)."""
    from ..app import replicate_study, write_study_report

    opened = open_study(**kw, read_only=True)
    replication = None
    if replicate is not None:
        if SEED_LIST.fullmatch(replicate):
            parse_seeds(replicate, "--replicate")
            other: Any = open_study(**{**kw, "seeds": replicate}, read_only=True)
        else:
            other = Path(replicate)
        replication = replicate_study(opened, other)
    click.echo(f"report: {write_study_report(opened)}")
    if replication is not None:
        click.echo(f"replication: {replication.path}")
        click.echo(replication.summary)
        for line in replication.warnings:
            click.echo(f"warning: {line}", err=True)
    gaps = opened.incomplete()
    if gaps:
        click.echo(f"warning: incomplete run: {gaps}", err=True)


@click.command()
@select_options
@click.option("--out", required=True, help="Output .csv or .parquet file.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def export(out: str, force: bool, **kw: Any) -> None:
    """Export a study's trial rows to CSV or Parquet (read-only: computes nothing)."""
    click.echo(f"wrote {open_study(**kw, read_only=True).export(out, force=force)}")


COMMANDS = [study, seeds, train, saliency, inject, retrain, drift, report, export]
