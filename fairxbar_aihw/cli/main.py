"""The ``fairxbar-aihw`` command group and its entry point.

Errors the user can fix print one line on stderr and exit 2 (no traceback unless --debug);
Ctrl-C exits 130 and keeps every finished trial.
"""
from __future__ import annotations

import sqlite3
import sys
import warnings
from typing import Any

import click

from .. import __version__
from ..errors import DataWarning, UserError, clipped, environment_error
from ..leftovers import forget, remove_created
from ..threads import set_wait_policy
from . import audit, data, listings, study

MAX_ERROR_CHARS = 500  # an error stays one readable line even if a message lists too much


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fairxbar-aihw")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
def cli(debug: bool) -> None:  # ``main`` reads --debug from argv itself: it must know before click parses
    """Fairness of skin-lesion classifiers on non-ideal analog in-memory-computing chips
    (FairXbar on IBM aihwkit)."""


for _module in (listings, data, study, audit):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def _close_progress_bars() -> None:
    """Close live progress bars so none is redrawn below the interruption message."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None:
        for bar in list(getattr(tqdm.tqdm, "_instances", [])):
            bar.close()


def _show_warning(message: Any, category: type[Warning], *args: Any, **kw: Any) -> None:
    """Data warnings (rows skipped, a likely class-order mix-up) as one ``warning:`` line on stderr."""
    if issubclass(category, DataWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _PYTHON_SHOW_WARNING(message, category, *args, **kw)


_PYTHON_SHOW_WARNING = warnings.showwarning


def _run_command() -> None:
    """The command; if it fails (not Ctrl-C), what it created before computing anything is removed
    (``leftovers``: a refused model or dataset leaves no run folder, lock or cache entry)."""
    try:
        cli.main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        raise
    except Exception:
        remove_created()
        raise


def main() -> None:
    """Entry point: one-line errors, exit 2 for user errors, 130 for Ctrl-C."""
    set_wait_policy()  # before torch loads its OpenMP runtime (fairxbar_aihw/threads.py says why)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.showwarning = _show_warning
    debug = "--debug" in sys.argv[1:]
    forget()  # only what this command creates is removed if it fails
    try:
        _run_command()
    except click.exceptions.Abort:
        _close_progress_bars()
        click.echo("interrupted: finished trials are saved; rerun the same command to resume", err=True)
        sys.exit(130)
    except click.UsageError as exc:  # one line: the problem and where to look
        where = exc.ctx.command_path if exc.ctx else "fairxbar-aihw"
        click.echo(f"error: {exc.format_message()} (see `{where} --help`)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except UserError as exc:
        if debug:
            raise
        click.echo(f"error: {clipped(str(exc), MAX_ERROR_CHARS)}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _close_progress_bars()
        click.echo("interrupted: finished trials are saved; rerun the same command to resume", err=True)
        sys.exit(130)
    except (OSError, sqlite3.OperationalError) as exc:  # disk full, read-only folder, name too long
        if debug:
            raise
        click.echo(f"error: {environment_error(exc)}", err=True)
        sys.exit(2)
    except Exception as exc:  # a bug: say so in one line, traceback on --debug
        if debug:
            raise
        click.echo(f"internal error: {type(exc).__name__}: {clipped(str(exc), MAX_ERROR_CHARS)} (rerun with --debug "
                   "for the traceback)", err=True)
        sys.exit(1)
