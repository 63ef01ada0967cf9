"""Per-study SQLite results store: one committed row per finished Monte-Carlo trial.

Why SQLite in WAL mode: a run killed at any instant leaves every committed trial readable
and no partial row (each trial is one transaction), and a resumed run asks the store which
(cell, trial) pairs are done instead of trusting files on disk. Runs with different resolved
configs get different ``run_id`` (the config hash), so their rows never mix.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

from urllib.parse import quote

import pandas as pd

from ..csv_files import write_csv
from ..errors import UserError
from ..safe_files import refuse_symlink, safe_mkdir, write_atomic

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    config_json TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    cell TEXT NOT NULL,
    trial INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    data_json TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (run_id, cell, trial)
);
CREATE TABLE IF NOT EXISTS meta (
    run_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value_json TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
"""


def refuse_linked_database(db: Path) -> None:
    """Refuse a results database, or a side file of it, that is a link or not a regular file:
    SQLite follows links and writes the database, its journal, WAL and shared-memory index where
    they lie (a reader too), so a link planted there would have another file written."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        refuse_symlink(db.with_name(db.name + suffix), in_place=True)


def config_hash(config: dict[str, Any]) -> str:
    """Stable short hash of a resolved config (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class ResultsStore:
    """Results database of one study: written by the study's process, or by its seed workers side by side
    (write-ahead log, one short transaction per chip; a writer waits up to 30 s for another)."""

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        refuse_linked_database(self.path)
        try:
            if read_only:  # never creates or changes a file: reports and exports only read
                self.conn = self._open_read_only()
                return
            safe_mkdir(self.path.parent)
            self.conn = sqlite3.connect(str(self.path), timeout=30.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(SCHEMA)
        except sqlite3.OperationalError as exc:
            raise UserError(f"results database {self.path} cannot be opened ({exc}); check that its folder "
                            "is readable and writable") from exc
        except sqlite3.DatabaseError as exc:
            raise UserError(f"results database {self.path} is corrupt ({exc}); move it aside (its rows are "
                            "lost) to start this study again") from exc

    def _open_read_only(self) -> sqlite3.Connection:
        """A read-only connection; in a folder nobody may write (an archive, a read-only mount) SQLite
        cannot create the WAL index, so the file is read as immutable, which is exact when no
        ``-wal`` file holds rows that are not in the database yet."""
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=30.0)
            conn.execute("SELECT count(*) FROM runs").fetchone()
            return conn
        except sqlite3.OperationalError:
            wal = self.path.with_name(self.path.name + "-wal")
            if os.access(self.path.parent, os.W_OK) or (wal.exists() and wal.stat().st_size > 0):
                raise
        conn = sqlite3.connect(uri + "&immutable=1", uri=True, timeout=30.0)
        conn.execute("SELECT count(*) FROM runs").fetchone()
        return conn

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register_run(self, name: str, config: dict[str, Any]) -> str:
        """Record a run's resolved config; the same config always maps to the same run_id."""
        run_id = config_hash(config)
        with self.conn:
            self.conn.execute(
                "INSERT OR IGNORE INTO runs(run_id, name, config_json, created) VALUES (?,?,?,?)",
                (run_id, name, json.dumps(config, sort_keys=True, default=str), time.time()),
            )
        return run_id

    def has_run(self, run_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone() is not None

    def runs(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT run_id, name, created FROM runs ORDER BY created", self.conn)

    def done(self, run_id: str) -> set[tuple[str, int]]:
        """(cell, trial) pairs already committed for this run: what a resume skips."""
        cur = self.conn.execute("SELECT cell, trial FROM trials WHERE run_id=?", (run_id,))
        return {(c, int(t)) for c, t in cur.fetchall()}

    def write_trial(self, run_id: str, cell: str, trial: int, seed: int, data: dict[str, Any]) -> bool:
        """Commit one finished trial atomically; returns False if it was already there."""
        with self.conn:
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO trials(run_id, cell, trial, seed, data_json, created) "
                "VALUES (?,?,?,?,?,?)",
                (run_id, cell, int(trial), int(seed), json.dumps(data, default=float), time.time()),
            )
        return cur.rowcount == 1

    def write_trials(self, run_id: str, rows: Iterable[tuple[str, int, int, dict[str, Any]]]) -> int:
        """Commit several finished trials in one transaction (used by batched backends)."""
        now = time.time()
        with self.conn:
            cur = self.conn.executemany(
                "INSERT OR IGNORE INTO trials(run_id, cell, trial, seed, data_json, created) "
                "VALUES (?,?,?,?,?,?)",
                [(run_id, c, int(t), int(s), json.dumps(d, default=float), now) for c, t, s, d in rows],
            )
        return cur.rowcount

    def set_meta(self, run_id: str, key: str, value: Any) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO meta(run_id, key, value_json) VALUES (?,?,?)",
                (run_id, key, json.dumps(value, default=str)),
            )

    def update_meta(self, run_id: str, key: str, updates: dict[str, Any]) -> dict[str, Any]:
        """Merge ``updates`` into the mapping stored under ``key`` in one write transaction, so two
        processes updating one run's mapping (stages of one seed in two workers) lose neither
        update; returns the merged mapping."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")  # the write lock first: nobody writes between read and write
            row = self.conn.execute("SELECT value_json FROM meta WHERE run_id=? AND key=?", (run_id, key)).fetchone()
            merged = {**(json.loads(row[0]) if row else {}), **updates}
            self.conn.execute("INSERT OR REPLACE INTO meta(run_id, key, value_json) VALUES (?,?,?)",
                              (run_id, key, json.dumps(merged, default=str)))
        return merged

    def get_meta(self, run_id: str, key: str, default: Any = None) -> Any:
        row = self.conn.execute(
            "SELECT value_json FROM meta WHERE run_id=? AND key=?", (run_id, key)
        ).fetchone()
        return default if row is None else json.loads(row[0])

    def to_frame(self, run_id: str) -> pd.DataFrame:
        """All trials of a run as one table, ordered by cell and trial (stable for reports)."""
        cur = self.conn.execute(
            "SELECT cell, trial, seed, data_json FROM trials WHERE run_id=? ORDER BY cell, trial",
            (run_id,),
        )
        records = []
        for cell, trial, seed, blob in cur.fetchall():
            rec = {"cell": cell, "trial": int(trial), "seed": int(seed)}
            rec.update(json.loads(blob))
            records.append(rec)
        return pd.DataFrame.from_records(records)

    def export(self, run_ids: str | Sequence[str], out: str | Path, study_seeds: Sequence[int] | None = None,
               force: bool = False) -> Path:
        """Write runs' trials to CSV or Parquet (chosen by the file suffix); with ``study_seeds`` (one
        per run) each row says which training seed it belongs to. An existing ``out`` is replaced
        only with ``force``, and then whole: the rows go to a temporary file in the same folder first."""
        out = Path(out)
        if out.suffix not in (".csv", ".parquet"):
            raise UserError(f"unknown export format '{out.suffix}': use .csv or .parquet")
        if not out.parent.is_dir():
            raise UserError(f"cannot export to {out}: folder {out.parent} does not exist; create it first")
        if out.exists() and not force:
            raise UserError(f"{out} already exists; choose another --out, or add --force to replace it")
        if out.is_dir():
            raise UserError(f"cannot export to {out}: it is a folder; give a file name ending in {out.suffix}")
        ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
        frames = [self.to_frame(r) for r in ids]
        if study_seeds is not None:
            frames = [f.assign(study_seed=s) for f, s in zip(frames, study_seeds)]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if out.suffix == ".csv":  # cell keys are the tool's; other text cells are neutralised
            return write_csv(out, df, tool_text=("cell",))
        try:
            return write_atomic(out, lambda handle: df.to_parquet(handle, index=False))
        except ImportError as exc:
            raise UserError("Parquet export needs pyarrow: pip install pyarrow") from exc
