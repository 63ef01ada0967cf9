"""The listing commands: ``studies`` and ``presets`` (one bad file never hides the others)."""
from __future__ import annotations

import textwrap
from typing import Any, Callable

import click

from ..errors import UserError


def _listing(names: list[str], load: Callable[[str], Any], describe: Callable[[Any], str]) -> None:
    """One line per file: its name and ``describe`` of it, or INVALID and why."""
    for name in names:
        try:
            item = load(name)
        except UserError as exc:  # one bad file must not hide the others
            click.echo(f"{name:18s} INVALID: {exc}")
            continue
        click.echo(f"{name:18s} {describe(item)}")


@click.command()
def studies() -> None:
    """List the bundled studies (studies/*.yaml), or those in FAIRXBAR_STUDIES."""
    from ..study.config import available, load_study

    _listing(available(), load_study, lambda cfg: f"{cfg.dataset.name:15s} {cfg.model.name:10s} "
             + textwrap.shorten(cfg.description, width=90, placeholder=" …"))


@click.group(invoke_without_command=True)
@click.pass_context
def presets(ctx: click.Context) -> None:
    """List device presets (the bundled device_presets/*.yaml, or FAIRXBAR_PRESETS); `presets show NAME` prints
    one resolved."""
    if ctx.invoked_subcommand is None:
        from ..hardware import available, load_preset

        _listing(available(), load_preset, lambda p: f"{p.summary():60s} {p.description}")


@presets.command("show")
@click.argument("name")
def presets_show(name: str) -> None:
    """Print a preset's resolved settings."""
    from ..hardware import load_preset

    p = load_preset(name)
    import yaml

    click.echo(f"# {p.name}: {p.description}")
    click.echo(yaml.safe_dump(p.applicable(), sort_keys=False).strip())


COMMANDS = [studies, presets]
