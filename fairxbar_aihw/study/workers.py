"""Seeds computed side by side, one process each (``--workers``).

Why processes: each seed is an independent replicate with its own files (``seed-N/``) and its own
run in the shared results database, which SQLite's write-ahead log lets several processes write
(one short transaction per chip). One-thread processes use small-tensor CPUs far better than one
process with several threads (``threads.plan_workers``). The parent holds the run folder's lock
and hears each worker's finished stages (for the study's progress line), data warnings and
errors through one queue; the workers write the database themselves, so a worker that is
killed loses only its chip in flight, and rerunning resumes every seed where it stopped.
"""
from __future__ import annotations

import multiprocessing as mp
import queue
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from ..errors import DataWarning, UserError
from .schema import StudyConfig

POLL_SECONDS = 0.5
SILENT_DEATH_GRACE = 3.0  # seconds a dead worker's last words may take to arrive


class StageListener(Protocol):
    """What hears that a seed finished a stage (the study's clock)."""

    def finished(self, seed: int, stage: str, seconds: float, computed: bool = True) -> None: ...


@dataclass(frozen=True)
class SeedJob:
    """Everything a worker needs to compute one seed in a fresh process (all picklable)."""

    cfg: StudyConfig  # the study as this one seed (``StudyConfig.for_seed``)
    folder: Path  # the study's run folder, locked by the parent
    threads: int
    data_root: str | None = None
    tag: str = ""
    then: Callable[[Any], Any] | None = None  # called with the seed's StudyRun once it is computed (a report)


class _Relay:
    """A worker's stand-in for the parent's clock and warning display: both go on the queue."""

    def __init__(self, messages: Any):
        self.messages = messages
        self.python_show_warning = warnings.showwarning

    def finished(self, seed: int, stage: str, seconds: float, computed: bool = True) -> None:
        self.messages.put(("stage", seed, stage, float(seconds), computed))

    def show_warning(self, message: Any, category: type[Warning], *args: Any, **kw: Any) -> None:
        if issubclass(category, DataWarning):
            self.messages.put(("warning", None, str(message)))
        else:
            self.python_show_warning(message, category, *args, **kw)


def serve(worker: int, jobs: Any, messages: Any) -> None:
    """A worker process: takes seeds from ``jobs`` until it draws None, computing every stage of
    each; says when it starts a seed and gives a last word for each (done, or the error)."""
    relay = _Relay(messages)
    warnings.showwarning = relay.show_warning
    seed = None
    try:
        from ..threads import use_threads
        from .pipeline import StudyRun
        from .runfolder import attach_shared_folder

        while (job := jobs.get()) is not None:
            seed = job.cfg.seed
            messages.put(("start", worker, seed))
            use_threads(job.threads)
            folder = attach_shared_folder(job.folder)
            try:
                run = StudyRun(job.cfg, data_root=job.data_root, progress=False, tag=job.tag, folder=folder)
                run.compute_all(relay)
                if job.then is not None:
                    job.then(run)
            finally:
                folder.close()
            messages.put(("done", worker, seed))
            seed = None
        messages.put(("exit", worker, None))
    except UserError as exc:
        messages.put(("user-error", worker, seed, str(exc)))
    except KeyboardInterrupt:
        messages.put(("interrupted", worker, seed, ""))
    except BaseException as exc:  # a bug: the parent reports it in one line, the traceback on --debug
        messages.put(("error", worker, seed, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


class WorkerFailed(RuntimeError):
    """A seed's worker failed with an unexpected error (its traceback follows the first line)."""


def compute_seeds(jobs: list[SeedJob], workers: int, listener: StageListener | None = None,
                  echo_warning: Any = None) -> None:
    """Compute ``jobs`` in ``workers`` processes (each started once, taking seeds in order).

    The first failure stops the rest (their finished chips stay committed) and is raised here:
    a ``UserError`` as the worker raised it, anything else as ``WorkerFailed``; Ctrl-C stops every
    worker and raises ``KeyboardInterrupt``.
    """
    ctx = mp.get_context("spawn")  # a fresh interpreter: no forked OpenMP or torch state
    messages, queue_of_jobs = ctx.Queue(), ctx.Queue()
    for job in jobs:
        queue_of_jobs.put(job)
    width = max(1, min(workers, len(jobs)))
    for _ in range(width):
        queue_of_jobs.put(None)
    procs = {w: ctx.Process(target=serve, args=(w, queue_of_jobs, messages), name=f"fairxbar worker {w}",
                            daemon=True) for w in range(width)}
    for proc in procs.values():
        proc.start()
    busy: dict[int, int | None] = {w: None for w in procs}  # worker → the seed it computes
    dead_since: dict[int, float] = {}
    failure: BaseException | None = None
    try:
        while busy and failure is None:
            try:
                kind, *rest = messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                failure = _silent_death(procs, busy, dead_since)
                continue
            if kind == "stage":
                if listener is not None:
                    listener.finished(*rest)
            elif kind == "warning":
                if echo_warning is not None:
                    echo_warning(rest[1])
            elif kind == "start":
                busy[rest[0]] = rest[1]
            elif kind == "done":
                busy[rest[0]] = None
            elif kind == "exit":
                procs[rest[0]].join()
                busy.pop(rest[0])
            else:
                failure = _failure(kind, *rest)
    finally:
        _stop(procs)
        messages.close()
        queue_of_jobs.close()
    if failure is not None:
        raise failure


def _failure(kind: str, worker: int, seed: int | None, text: str) -> BaseException:
    if kind == "user-error":
        return UserError(text)
    if kind == "interrupted":
        return KeyboardInterrupt()
    return WorkerFailed(f"seed {seed}: {text}")


def _silent_death(procs: dict[int, Any], busy: dict[int, int | None],
                  dead_since: dict[int, float]) -> BaseException | None:
    """A worker that exited without a last word (killed, out of memory), once its messages had time to arrive."""
    now = time.monotonic()
    for worker in busy:
        proc = procs[worker]
        if proc.is_alive():
            continue
        if now - dead_since.setdefault(worker, now) >= SILENT_DEATH_GRACE:
            seed = busy[worker]
            what = f"computing seed {seed}" if seed is not None else str(worker)
            return UserError(f"the worker {what} died (exit code {proc.exitcode}: killed, or out of memory?); "
                             "finished chips are saved: rerun the same command to resume, with --workers 1 if "
                             "memory is short")
    return None


def _stop(procs: dict[int, Any]) -> None:
    """End every worker still running (what it committed stays in the database)."""
    for proc in procs.values():
        if proc.is_alive():
            proc.terminate()
    for proc in procs.values():
        proc.join(timeout=10)
