"""The study commands: run every stage (``study``, ``seeds``), one stage (one command per entry of
the stage registry, ``study/stages.py``: ``train``, ``saliency``, ``inject``, ``retrain``, ``prune``,
``drift``), or read a finished run (``report``, ``export``)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from ..study.stages import REGISTRY, Stage, prepare, run_stage
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


def _stage_command(stage: Stage) -> click.Command:
    """The command that runs one stage of the registry on every seed (after preparing each seed
    when the stage reads the preparation) and says what it added."""

    def command(**kw: Any) -> None:
        opened = open_study(**kw)
        n = 0
        for run in opened.runs():
            if not stage.prepares:
                prepare(run)
            added = run_stage(run, stage.name)
            n += added
            if stage.describe is not None:
                click.echo(stage.describe(run, added))
        if stage.describe is None:
            click.echo(f"{n} {stage.unit} run; results in {opened.store.path}")

    command.__doc__ = stage.help
    return click.command(name=stage.verb, help=stage.help)(study_options(command))


STAGE_COMMANDS = [_stage_command(REGISTRY.stage(name)) for name in REGISTRY.names]


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


COMMANDS = [study, seeds, *STAGE_COMMANDS, report, export]
