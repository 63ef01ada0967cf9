"""What this process created for a command, removed again when the command fails before it computed
anything: a refused model or dataset leaves no run folder, lock, report folder or cache entry.

Why: a study or an audit creates its run folder (lock, marker, database), its report folder and
the decoded-image cache before its model and data are accepted, and a refusal left them behind
(and ``docs/reports/`` in whatever folder the command ran in). Each is recorded here by the code
that creates it, with what counts as computed work inside it; on a failure ``remove_created``
deletes exactly what was recorded, by name, and only when none of it holds computed work (a
trial row, a trained model): then everything is kept, and a rerun resumes.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Made:
    """One thing this process created: a file, or a folder with the names the tool writes into it."""

    path: Path
    names: tuple[str, ...] | None = None  # None: a file; a folder is removed only once these are gone and it is empty
    computed: Callable[[Path], bool] | None = None  # whether it now holds work a rerun would resume from


_MADE: list[Made] = []
_WATCHED: list[Callable[[], bool]] = []


def make_folder(path: Path, names: tuple[str, ...] = (), computed: Callable[[Path], bool] | None = None) -> bool:
    """``path.mkdir(parents=True, exist_ok=True)``, recording each folder this call created
    (``names`` and ``computed`` describe ``path`` itself; its parents are removed only if empty);
    returns whether it created ``path``."""
    created = False
    for folder in reversed([p for p in (path, *path.parents) if not p.exists()]):  # outermost first
        try:
            folder.mkdir()
        except FileExistsError:  # another process made it first: not ours
            continue
        created = folder == path
        _MADE.append(Made(folder, names if created else (), computed if created else None))
    path.mkdir(parents=True, exist_ok=True)  # fails as before when it cannot exist (a file in the way)
    return created


def made_file(path: Path) -> None:
    """Record a file this process just created (a cache entry)."""
    _MADE.append(Made(path))


def watch(computed: Callable[[], bool]) -> None:
    """Keep everything recorded if ``computed()`` says work was computed since (a run folder that
    existed before, whose new rows the files recorded here belong with)."""
    _WATCHED.append(computed)


def forget() -> None:
    """Forget what was recorded (what was created stays): for a process that runs several commands."""
    _MADE.clear()
    _WATCHED.clear()


def remove_created() -> list[Path]:
    """After a failed command: delete what this process recorded, newest first, unless any of it
    holds computed work; returns what was removed."""
    made, watched = list(_MADE), list(_WATCHED)
    forget()
    if any(m.computed is not None and m.path.is_dir() and m.computed(m.path) for m in made) or \
            any(check() for check in watched):
        return []
    removed = []
    for m in reversed(made):
        with contextlib.suppress(OSError):
            if m.names is None:
                m.path.unlink()
            else:
                for name in m.names:
                    with contextlib.suppress(FileNotFoundError):
                        (m.path / name).unlink()
                os.rmdir(m.path)  # only when empty: anything else in it is not ours to delete
            removed.append(m.path)
    return removed
