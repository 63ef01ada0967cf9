"""Run and report folders: created inside their base folder, each belonging to one thing, a run
folder locked by one process and deleted only if proven ours.

Why: two processes on one folder would each redo all the work and race on its files; ``--fresh``
deletes, and two things with one name (a study and an audit, or two study files with the same
file name) map to one folder, so a folder's marker records its owner and anything else is
refused: it may neither delete (``--fresh``), resume into nor report from another's folder. A
non-empty folder the tool did not make (no marker, no results database naming it) is nobody's
run: every command refuses it, so ``--fresh`` never deletes a user's files. Files are written
through ``safe_files``, so a link planted in a prepared folder is refused, never followed.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError
from ..leftovers import make_folder, watch
from ..paths import inside, reports_dir, runs_dir
from ..safe_files import open_in_place, refuse_symlink, safe_mkdir, write_atomic
from ..store import ResultsStore
from ..store.results import refuse_linked_database

MARKER = "fairxbar-run.json"
REPORT_MARKER = "fairxbar-report.json"
LOCK = ".lock"
DATABASE = "results.sqlite"
REPORT_FILES = (REPORT_MARKER, REPORT_MARKER + ".tmp")
# What opening a run folder writes; a folder holding only these and no trial row holds no computed work.
BOOKKEEPING = (LOCK, MARKER, MARKER + ".tmp", DATABASE, *(DATABASE + s for s in ("-wal", "-shm", "-journal")))


def _trial_rows(folder: Path) -> int:
    """How many trial rows the folder's database holds (0 without one)."""
    try:
        with sqlite3.connect(f"file:{folder / DATABASE}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM trials").fetchone()[0])
    except sqlite3.Error:
        return 0


def _holds_report(folder: Path) -> bool:
    """Whether a report folder holds a report (more than its marker)."""
    return any(e.name not in REPORT_FILES for e in folder.iterdir())


def holds_results(folder: Path) -> bool:
    """Whether a run folder holds computed work (a seed's files, a trial row): what a failed
    command must keep (``leftovers``)."""
    return any(e.name not in BOOKKEEPING for e in folder.iterdir()) or _trial_rows(folder) > 0


@dataclass(frozen=True)
class Owner:
    """What a folder belongs to: ``kind`` "study" or "audit", and for a study its file:
    ``bundled:NAME`` for a bundled study (stable across installs), else the resolved path of its
    YAML ("" for a study built in Python without a file)."""

    kind: str
    source: str = ""

    def describe(self, name: str) -> str:
        if self.kind != "study":
            return f"{self.kind} '{name}'"
        if self.source.startswith("bundled:"):
            return f"the bundled study '{self.source.removeprefix('bundled:')}'"
        return f"the study file {self.source}" if self.source else f"study '{name}' built in Python (no file)"


LEGACY = "legacy"  # an owner-less marker (made before owners were recorded): a study of that name


def owner_of(cfg: Any) -> Owner:
    """The owner a study config's folders get (set by the loader, or "audit" by ``audit_config``)."""
    return Owner(*cfg.owner)


def _owner_in(marker: Path, name: str) -> Owner | str | None:
    """The owner a marker records, LEGACY for an owner-less marker of ``name``, None if it is no
    marker of ``name``."""
    try:
        data = json.loads(marker.read_text())
        if data.get("study") != name:
            return None
        owner = data.get("owner")
        return LEGACY if owner is None else Owner(str(owner["kind"]), str(owner.get("source", "")))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _legacy_owner(folder: Path) -> Owner | None:
    """Who made an owner-less run folder: an audit if its database holds per-layer rows (a stage
    only audits run), else a study of that name (any file; it adopts the folder)."""
    db = folder / "results.sqlite"
    refuse_linked_database(db)
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            layers = conn.execute("SELECT 1 FROM trials WHERE cell LIKE 'layer|%' LIMIT 1").fetchone()
    except sqlite3.Error:
        return None
    return Owner("audit") if layers else None


def _recorded_owner(folder: Path, name: str) -> Owner | str | None:
    """The owner of run folder ``folder`` (an Owner; LEGACY: any study of ``name``), or None when
    it is provably no run folder of ``name`` (no marker naming it, and no database holding a run
    of that name, as folders made before markers existed do)."""
    marker = folder / MARKER
    if marker.is_file():
        found = _owner_in(marker, name)
        return (_legacy_owner(folder) or LEGACY) if found == LEGACY else found
    db = folder / "results.sqlite"
    refuse_linked_database(db)
    if not db.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            known = conn.execute("SELECT 1 FROM runs WHERE name=?", (name,)).fetchone() is not None
    except sqlite3.Error:
        return None
    return (_legacy_owner(folder) or LEGACY) if known else None


def _belongs(recorded: Owner | str, owner: Owner) -> bool:
    return recorded == owner or (recorded == LEGACY and owner.kind == "study")


def _refuse(action: str, folder: Path, name: str, recorded: Owner | str, owner: Owner, what: str = "run") -> None:
    theirs = recorded.describe(name) if isinstance(recorded, Owner) else \
        f"a study named '{name}' (made before folders recorded their owner)"
    base = "FAIRXBAR_RUNS" if what == "run" else "FAIRXBAR_REPORTS"
    rename = "copy this study file under another file name" if owner.kind == "study" else "give another audit NAME"
    raise UserError(f"{action} refused: {what} folder {folder} belongs to {theirs}, not to {owner.describe(name)}; "
                    f"{rename}, or use another {what}s folder ({base}), or delete {folder} yourself if you mean to")


def _write_marker(path: Path, data: dict[str, Any]) -> None:
    """Atomically: a killed write must not leave a marker that disowns the folder."""
    write_atomic(path, (json.dumps(data) + "\n").encode())


def _marker_data(name: str, owner: Owner) -> dict[str, Any]:
    return {"study": name, "owner": {"kind": owner.kind, "source": owner.source}}


class RunLock:
    """An exclusive, non-blocking lock on ``folder/.lock`` holding the owner's PID (released on close)."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK
        self._file: Any = None
        try:
            import fcntl
        except ImportError:  # not POSIX: no locking, as before
            return
        handle = os.fdopen(open_in_place(self.path), "r+")  # a planted link is refused, not truncated
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


def _empty_except_lock(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.name == LOCK:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _made_by_us(folder: Path, name: str, owner: Owner, fresh: bool) -> Owner | str | None:
    """The recorded owner of run folder ``folder`` (None if it is empty but for the lock); a
    non-empty folder the tool did not make is refused, ``--fresh`` or not."""
    if not any(e.name != LOCK for e in folder.iterdir()):
        return None
    recorded = _recorded_owner(folder, name)
    if recorded is None:
        raise UserError(f"{'--fresh' if fresh else 'resume'} refused: {folder} is not a run folder of {owner.kind} "
                        f"'{name}' (it holds files but no {MARKER} or results database naming it), and fairxbar-aihw "
                        "neither uses nor deletes a folder it did not make; move those files elsewhere, or give "
                        "another name, or use another runs folder (FAIRXBAR_RUNS)")
    return recorded


def open_run_folder(runs: Path, name: str, owner: Owner = Owner("study"), fresh: bool = False,
                    check: Callable[[], object] | None = None) -> tuple[Path, RunLock]:
    """``runs/name`` created, locked and marked as ``owner``'s; with ``fresh`` its contents deleted
    first. A folder of another owner is refused either way, and so is one with content and no
    marker or database of ``name`` (checked before the lock is made, so such a folder gains no
    file, and again under it). ``check`` (raising to refuse) runs after the ownership checks and
    before anything is deleted."""
    folder = inside(runs, name, "run")
    try:
        refuse_symlink(folder)
        if not make_folder(folder, BOOKKEEPING, holds_results):  # removed if the command fails before computing
            rows = _trial_rows(folder)
            watch(lambda: _trial_rows(folder) != rows)  # what this process adds to an older folder is kept
        safe_mkdir(runs, name)  # a real folder, never a link
    except OSError as exc:
        raise UserError(f"cannot create run folder {folder} ({exc.strerror}); set FAIRXBAR_RUNS to a writable "
                        "folder") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"run folder {folder} is not writable; fix its permissions or set FAIRXBAR_RUNS to a "
                        "writable folder")
    _made_by_us(folder, name, owner, fresh)  # before the lock: a folder not ours gains no file
    lock = RunLock(folder)
    try:
        recorded = _made_by_us(folder, name, owner, fresh)
        if recorded is not None and not _belongs(recorded, owner):
            _refuse("--fresh" if fresh else "resume", folder, name, recorded, owner)
        if check is not None:
            check()
        if fresh:
            _empty_except_lock(folder)
        if _owner_in(folder / MARKER, name) != owner:  # new, or adopted from an owner-less marker
            _write_marker(folder / MARKER, _marker_data(name, owner))
    except BaseException:
        lock.close()
        raise
    return folder, lock


def existing_run_folder(runs: Path, name: str, study: str, owner: Owner = Owner("study")) -> Path:
    """``runs/name`` for read-only commands: an error (creating nothing) if the study never ran
    or the folder belongs to something else."""
    folder = inside(runs, name, "run")
    refuse_symlink(folder)
    if not (folder / "results.sqlite").is_file():
        raise UserError(f"study '{name}' has no results in {runs} yet; run `fairxbar-aihw study {study}` "
                        "(with the same options) first")
    recorded = _recorded_owner(folder, name)
    if recorded is None:
        raise UserError(f"reading refused: {folder} is not a run folder of {owner.kind} '{name}' (no {MARKER} or "
                        "results database naming it); give the name it was run under, or use the runs folder it "
                        "was run in (FAIRXBAR_RUNS)")
    if not _belongs(recorded, owner):
        _refuse("reading", folder, name, recorded, owner)
    return folder


def report_folder(name: str, owner: Owner, claim: bool = False) -> Path:
    """``docs/reports/name`` (``name`` in FAIRXBAR_REPORTS) if it holds no other owner's report and
    nothing the tool did not write (a non-empty folder without a marker is refused: its files may
    be the user's); ``claim`` creates it and records ``owner``."""
    base = reports_dir()
    folder = inside(base, name, "report")
    refuse_symlink(folder)
    marker = folder / REPORT_MARKER
    refuse_symlink(marker)
    recorded = _owner_in(marker, name) if marker.is_file() else None
    if isinstance(recorded, Owner) and recorded != owner:
        _refuse("writing the report", folder, name, recorded, owner, "report")
    if recorded is None and folder.is_dir() and any(folder.iterdir()):
        raise UserError(f"writing the report refused: {folder} holds files but no {REPORT_MARKER} naming it, so "
                        "fairxbar-aihw did not write it and will not write into it; move those files elsewhere, "
                        "or give another name, or use another reports folder (FAIRXBAR_REPORTS)")
    if claim:
        refuse_symlink(folder)
        make_folder(folder, REPORT_FILES, _holds_report)  # removed if the command fails before computing
        safe_mkdir(base, name)  # a real folder, never a link
        if recorded != owner:
            _write_marker(marker, _marker_data(name, owner))
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


def open_shared_folder(name: str, cfg: Any, fresh: bool = False, read_only: bool = False) -> SharedFolder:
    """``runs/name`` of study ``cfg`` with its database: locked and created for computing commands;
    for read-only ones it must exist already and is opened without a lock and without writing."""
    owner = owner_of(cfg)
    if read_only:
        folder = existing_run_folder(runs_dir(), name, cfg.name, owner)
        return SharedFolder(folder, ResultsStore(folder / "results.sqlite", read_only=True), None)
    folder, lock = open_run_folder(runs_dir(), name, owner, fresh, lambda: report_folder(name, owner))
    return SharedFolder(folder, ResultsStore(folder / "results.sqlite"), lock)


def attach_shared_folder(path: Path) -> SharedFolder:
    """A run folder another process of this study opened and locked (``open_shared_folder``): a
    seed's worker (``workers.py``) writes its database without taking the lock."""
    if not (path / MARKER).is_file():
        raise UserError(f"{path} is not an opened run folder (no {MARKER}); rerun the study command")
    return SharedFolder(path, ResultsStore(path / "results.sqlite"), None)
