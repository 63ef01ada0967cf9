"""Seeds computed side by side in worker processes (``--workers``).

Why processes: each seed is an independent replicate with its own files (``seed-N/``) and its own
run in the shared results database, which SQLite's write-ahead log lets several processes write
(one short transaction per chip). One-thread processes use small-tensor CPUs far better than one
process with several threads (``threads.plan_workers``).

The work is handed out as tasks (``schedule.py``): a seed's preparation (the registry's
preparing stages, ``stages.REGISTRY.prepare``: training and saliency; every seed's before any
later stage, the critical path), then each of its later stages on its own (they only read what preparation cached), then its report. The parent holds the run
folder's lock, hands each idle worker the next task, and hears finished stages (for the study's
progress line), data warnings and errors through one queue of typed messages
(``worker_messages.py``); the workers write the database themselves, so a worker that is killed
loses only its chip in flight, and rerunning resumes every seed where it stopped.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import sqlite3
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from functools import singledispatchmethod
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError, environment_error

from .schedule import Schedule, Task
from .schema import StudyConfig
from . import stages
from .stages import StageListener, compute_stages
from .worker_messages import (BarUpdate, DataWarningSeen, Relay, StageBegan, StageFinished, StderrRelay, TaskDone,
                              TextLine, WorkerExited, WorkerStopped)

POLL_SECONDS = 0.5
SILENT_DEATH_GRACE = 3.0  # seconds a dead worker's last words may take to arrive


@dataclass(frozen=True)
class SeedJob:
    """Everything a worker needs to compute one seed in a fresh process (all picklable)."""

    cfg: StudyConfig  # the study as this one seed (``StudyConfig.for_seed``)
    folder: Path  # the study's run folder, locked by the parent
    threads: int
    data_root: str | None = None
    tag: str = ""
    then: Callable[[Any], Any] | None = None  # called with the seed's StudyRun once every stage is done (a report)
    progress: bool = False  # the stages' progress bars, relayed to the parent's status line


def _end_with_parent() -> None:
    """Ask Linux to stop this worker when the study's process dies, even by SIGKILL: an orphan would
    keep computing without the run folder's lock. Elsewhere ``_next_task`` notices between tasks."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _bars_without_semaphores() -> None:
    """Give tqdm a thread lock: its default takes a multiprocessing lock (a named semaphore) that a
    worker stopped by ``terminate()`` never frees, so Python's resource tracker warned of leaked
    semaphores after every worker failure. A worker's bars go through its own relay: no other
    process shares them."""
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


def _next_task(inbox: Any, parent: int) -> "Task | None":
    """The parent's next task for this worker, or None when it says so or has gone."""
    while True:
        try:
            return inbox.get(timeout=POLL_SECONDS * 4)
        except queue.Empty:
            if os.getppid() != parent:
                return None


def serve(worker: int, inbox: Any, messages: Any, jobs: dict[int, SeedJob], parent: int) -> None:
    """A worker process of the study process ``parent``: computes the tasks the parent puts in its
    ``inbox`` until it gets None (or the parent is gone); a last word for each (done, or the error)."""
    _bars_without_semaphores()
    relay = Relay(messages)
    warnings.showwarning = relay.show_warning
    _end_with_parent()
    if os.getppid() != parent:  # the parent died before the request above took effect
        return
    seed = None
    try:
        from ..threads import use_threads
        from .pipeline import StudyRun
        from .runfolder import attach_shared_folder

        any_job = next(iter(jobs.values()))
        if any_job.progress:
            sys.stderr = StderrRelay(messages, worker)
        use_threads(any_job.threads)
        folder = attach_shared_folder(any_job.folder)
        runs: dict[int, StudyRun] = {}
        try:
            while (task := _next_task(inbox, parent)) is not None:
                seed, job = task.seed, jobs[task.seed]
                if seed not in runs:
                    runs[seed] = StudyRun(job.cfg, data_root=job.data_root, progress=job.progress, tag=job.tag,
                                          folder=folder)
                if task.stages:
                    compute_stages(runs[seed], task.stages, relay)
                elif job.then is not None:
                    job.then(runs[seed])
                messages.put(TaskDone(worker, task))
                seed = None
        finally:
            folder.close()
        messages.put(WorkerExited(worker))
    except (UserError, OSError, sqlite3.OperationalError) as exc:  # a full disk: the line one process prints
        messages.put(WorkerStopped(worker, seed, "user-error", str(environment_error(exc) or exc)))
    except KeyboardInterrupt:
        messages.put(WorkerStopped(worker, seed, "interrupted"))
    except BaseException as exc:  # a bug: the parent reports it in one line, the traceback on --debug
        messages.put(WorkerStopped(worker, seed, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


class StatusLine:
    """One live line under the study's progress lines: what each worker is doing, from the
    progress bars it relays (``seed 3 demo: Monte-Carlo chips 120/280 · seed 4 retrain VA-Retrain 40/90``)."""

    def __init__(self, enabled: bool):
        self.parts: dict[int, str] = {}
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=0, bar_format="{desc}", file=sys.stderr, leave=False)

    def update(self, worker: int, seed: int, what: str, n: int, total: int) -> None:
        self.parts[worker] = f"seed {seed} {what} {n}/{total}"
        self._show()

    def clear(self, worker: int) -> None:
        if self.parts.pop(worker, None) is not None:
            self._show()

    def _show(self) -> None:
        if self.bar is not None:
            self.bar.set_description_str(" · ".join(self.parts[w] for w in sorted(self.parts)))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class _Listeners:
    """Where the parent sends what the workers tell it."""

    clock: StageListener | None = None
    warning: Callable[[str], None] | None = None
    text: Callable[[str], None] | None = None


class _Pool:
    """The study process's side: worker processes, what each is doing, and what each message means."""

    def __init__(self, jobs: list[SeedJob], workers: int, schedule: Schedule, listeners: _Listeners):
        by_seed = {job.cfg.seed: job for job in jobs}
        self.schedule, self.listeners = schedule, listeners
        ctx = mp.get_context("spawn")  # a fresh interpreter: no forked OpenMP or torch state
        self.messages = ctx.Queue()
        self.inboxes = {w: ctx.Queue() for w in range(workers)}
        self.procs = {w: ctx.Process(target=serve, args=(w, self.inboxes[w], self.messages, by_seed, os.getpid()),
                                     name=f"fairxbar worker {w}", daemon=True) for w in range(workers)}
        self.busy: dict[int, Task | None] = {w: None for w in self.procs}  # worker → task (None: idle); gone at exit
        self.status = StatusLine(any(job.progress for job in jobs))
        self.exiting: set[int] = set()
        self.dead_since: dict[int, float] = {}
        self.failure: BaseException | None = None

    def run(self) -> None:
        """Hand out tasks and hear the workers until every worker has exited or one failed."""
        for proc in self.procs.values():
            proc.start()
        try:
            while self.busy and self.failure is None:
                self._hand_out()
                try:
                    message = self.messages.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    self.failure = _silent_death(self.procs, self.busy, self.dead_since)
                    continue
                self.handle(message)
        finally:
            self.status.close()
            _stop(self.procs)
            for q in (self.messages, *self.inboxes.values()):
                q.close()
        if self.failure is not None:
            raise self.failure

    def _hand_out(self) -> None:
        """Each idle worker gets the next ready task; once nothing is ready or running, a stop."""
        for w in [w for w, task in self.busy.items() if task is None and w not in self.exiting]:
            task = self.schedule.next()
            if task is not None:
                self.busy[w] = task
                self.inboxes[w].put(task)
            elif all(t is None for t in self.busy.values()):  # nothing ready and nothing in flight: all done
                self.inboxes[w].put(None)
                self.exiting.add(w)

    @singledispatchmethod
    def handle(self, message: Any) -> None:
        raise TypeError(f"a worker sent {message!r}, which is no message of worker_messages.py")

    @handle.register
    def _(self, message: StageBegan) -> None:
        if self.listeners.clock is not None:
            self.listeners.clock.begin(message.seed, message.stage)

    @handle.register
    def _(self, message: StageFinished) -> None:
        if self.listeners.clock is not None:
            self.listeners.clock.finished(message.seed, message.stage, message.seconds, message.computed)

    @handle.register
    def _(self, message: DataWarningSeen) -> None:
        if self.listeners.warning is not None:
            self.listeners.warning(message.text)

    @handle.register
    def _(self, message: BarUpdate) -> None:
        task = self.busy.get(message.worker)
        if task is not None:
            self.status.update(message.worker, task.seed, message.what, message.done, message.total)

    @handle.register
    def _(self, message: TextLine) -> None:
        if self.listeners.text is not None:
            self.listeners.text(message.line)

    @handle.register
    def _(self, message: TaskDone) -> None:
        self.schedule.done(message.task)
        self.busy[message.worker] = None
        self.status.clear(message.worker)

    @handle.register
    def _(self, message: WorkerExited) -> None:
        self.procs[message.worker].join()
        self.busy.pop(message.worker)

    @handle.register
    def _(self, message: WorkerStopped) -> None:
        self.failure = message.exception()


def compute_seeds(jobs: list[SeedJob], workers: int, listener: StageListener | None = None,
                  echo_warning: Callable[[str], None] | None = None, prepare: tuple[str, ...] | None = None,
                  later: list[str] | None = None, echo: Callable[[str], None] | None = None) -> None:
    """Compute ``jobs`` in ``workers`` processes (each started once): every seed's ``prepare``
    stages, then each of its ``later`` stages as its own task (give them longest first; default:
    the registry's), then the seed's ``then``. Data warnings go to ``echo_warning``, other lines a
    worker prints to ``echo``, and with the jobs' ``progress`` the workers' bars to one status line.

    The first failure stops the rest (their finished chips stay committed) and is raised here:
    a ``UserError`` as the worker raised it, anything else as ``WorkerFailed``; Ctrl-C stops every
    worker and raises ``KeyboardInterrupt``.
    """
    prepare = stages.REGISTRY.prepare if prepare is None else prepare
    later = list(stages.REGISTRY.later) if later is None else later
    seeds = [job.cfg.seed for job in jobs]
    schedule = Schedule(seeds, prepare, later, reports=any(job.then is not None for job in jobs))
    width = max(1, min(workers, len(jobs) * (1 + len(later))))
    _Pool(jobs, width, schedule, _Listeners(listener, echo_warning, echo)).run()


def _silent_death(procs: dict[int, Any], busy: dict[int, Task | None],
                  dead_since: dict[int, float]) -> BaseException | None:
    """A worker that exited without a last word (killed, out of memory), once its messages had time to arrive."""
    now = time.monotonic()
    for worker, task in busy.items():
        proc = procs[worker]
        if proc.is_alive():
            continue
        if now - dead_since.setdefault(worker, now) >= SILENT_DEATH_GRACE:
            what = f"computing seed {task.seed}" if task is not None else str(worker)
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
