"""A study's run folder: created inside the runs folder, locked by one process, deleted only if proven ours.

Why: two processes on one folder would each redo all the work and race on its files; and
``--fresh`` deletes, so it deletes only a folder that carries this study's marker file.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..paths import inside, runs_dir
from ..store import ResultsStore

MARKER = "fairxbar-run.json"
LOCK = ".lock"


class RunLock:
    """An exclusive, non-blocking lock on ``folder/.lock`` holding the owner's PID (released on close)."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK
        self._file: Any = None
        try:
            import fcntl
        except ImportError:  # not POSIX: no locking, as before
            return
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise UserError(f"run folder {folder} is in use by another fairxbar-aihw process (PID {holder}); "
                            "wait for it to finish or stop it") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def close(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the lock
            self._file = None


def _is_run_of(folder: Path, name: str) -> bool:
    """Provably a run folder of study ``name``: its marker names it (or, for folders made before
    markers existed, its results database holds a run of that name)."""
    marker = folder / MARKER
    if marker.is_file():
        try:
            return json.loads(marker.read_text()).get("study") == name
        except (OSError, ValueError):
            return False
    db = folder / "results.sqlite"
    if not db.is_file():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT 1 FROM runs WHERE name=?", (name,)).fetchone() is not None
    except sqlite3.Error:
        return False


def _empty_except_lock(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.name == LOCK:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def open_run_folder(runs: Path, name: str, fresh: bool = False) -> tuple[Path, RunLock]:
    """``runs/name`` created, locked and marked; with ``fresh`` its contents deleted first (only if ours)."""
    folder = inside(runs, name, "run")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create run folder {folder} ({exc.strerror}); set FAIRXBAR_RUNS to a writable "
                        "folder") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"run folder {folder} is not writable; fix its permissions or set FAIRXBAR_RUNS to a "
                        "writable folder")
    lock = RunLock(folder)
    has_content = any(e.name != LOCK for e in folder.iterdir())
    if fresh and has_content:
        if not _is_run_of(folder, name):
            lock.close()
            raise UserError(f"--fresh refused: {folder} is not a run folder of study '{name}' (no {MARKER} "
                            "naming it); delete it yourself if you mean to")
        _empty_except_lock(folder)
        has_content = False
    if not has_content or not (folder / MARKER).is_file():
        (folder / MARKER).write_text(json.dumps({"study": name}) + "\n")
    return folder, lock


def existing_run_folder(runs: Path, name: str, study: str) -> Path:
    """``runs/name`` for read-only commands: an error (creating nothing) if the study never ran."""
    folder = inside(runs, name, "run")
    if not (folder / "results.sqlite").is_file():
        raise UserError(f"study '{name}' has no results in {runs} yet; run `fairxbar-aihw study {study}` "
                        "(with the same options) first")
    return folder


@dataclass
class SharedFolder:
    """A run folder opened once for every seed of a study: its path, its results database and
    (when it may be written) its lock."""

    path: Path
    store: ResultsStore
    lock: RunLock | None

    def close(self) -> None:
        self.store.close()
        if self.lock is not None:
            self.lock.close()


def open_shared_folder(name: str, study: str, fresh: bool = False, read_only: bool = False) -> SharedFolder:
    """``runs/name`` with its database: locked and created for computing commands; for
    read-only ones it must exist already and is opened without a lock and without writing."""
    if read_only:
        folder = existing_run_folder(runs_dir(), name, study)
        return SharedFolder(folder, ResultsStore(folder / "results.sqlite", read_only=True), None)
    folder, lock = open_run_folder(runs_dir(), name, fresh)
    return SharedFolder(folder, ResultsStore(folder / "results.sqlite"), lock)
