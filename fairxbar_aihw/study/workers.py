"""Seeds computed side by side in worker processes (``--workers``).

Why processes: each seed is an independent replicate with its own files (``seed-N/``) and its own
run in the shared results database, which SQLite's write-ahead log lets several processes write
(one short transaction per chip). One-thread processes use small-tensor CPUs far better than one
process with several threads (``threads.plan_workers``).

The work is handed out as tasks: a seed's preparation (``StudyRun.PREPARE``: training and
saliency), then each of its later stages on its own (they only read what preparation cached),
then its report. So the last seed's stages spread over the workers instead of leaving all but
one idle. The parent holds the run folder's lock, hands each idle worker the next task, and
hears finished stages (for the study's progress line), data warnings and errors through one
queue; the workers write the database themselves, so a worker that is killed loses only its
chip in flight, and rerunning resumes every seed where it stopped.
"""
from __future__ import annotations

import io
import multiprocessing as mp
import os
import queue
import re
import signal
import sqlite3
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import DataWarning, UserError, environment_error
from .eta import PREPARE, STAGES, StageListener
from .schema import StudyConfig

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


@dataclass(frozen=True)
class Task:
    """One piece of a seed: stages to compute, in order, or (``stages`` empty) the seed's ``then``."""

    seed: int
    stages: tuple[str, ...]


class _Relay:
    """A worker's stand-in for the parent's clock and warning display: both go on the queue."""

    def __init__(self, messages: Any):
        self.messages = messages
        self.python_show_warning = warnings.showwarning

    def begin(self, seed: int, stage: str) -> None:
        self.messages.put(("begin", seed, stage))

    def finished(self, seed: int, stage: str, seconds: float, computed: bool = True) -> None:
        self.messages.put(("stage", seed, stage, float(seconds), computed))

    def show_warning(self, message: Any, category: type[Warning], *args: Any, **kw: Any) -> None:
        if issubclass(category, DataWarning):
            self.messages.put(("warning", None, str(message)))
        else:
            self.python_show_warning(message, category, *args, **kw)


BAR = re.compile(r"^\s*(?P<desc>.*?):\s+\d+%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)")
BAR_INTERVAL = 1.0  # seconds between a worker's relayed bar updates


class _StderrRelay(io.TextIOBase):
    """A worker's stderr: a progress bar's updates go to the parent as (what, done, total), at most
    one a second, and other complete lines as text, so several workers never draw over each other."""

    def __init__(self, messages: Any, worker: int):
        self.messages, self.worker = messages, worker
        self.line = ""
        self.sent = 0.0

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        bar = BAR.match(text.strip("\r\n"))
        if bar is not None:  # tqdm writes each update of a bar in one call
            n, total = int(bar["n"]), int(bar["total"])
            now = time.monotonic()
            if now - self.sent >= BAR_INTERVAL or n == total:
                self.sent = now
                self.messages.put(("bar", self.worker, bar["desc"], n, total))
            return len(text)
        self.line += text
        *lines, self.line = self.line.split("\n")
        for line in lines:
            if line.strip("\r ").strip():
                self.messages.put(("text", self.worker, line.strip("\r")))
        return len(text)


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
    relay = _Relay(messages)
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
            sys.stderr = _StderrRelay(messages, worker)
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
                    runs[seed].compute_stages(list(task.stages), relay)
                elif job.then is not None:
                    job.then(runs[seed])
                messages.put(("done", worker, task))
                seed = None
        finally:
            folder.close()
        messages.put(("exit", worker, None))
    except (UserError, OSError, sqlite3.OperationalError) as exc:  # a full disk: the line one process prints
        messages.put(("user-error", worker, seed, str(environment_error(exc) or exc)))
    except KeyboardInterrupt:
        messages.put(("interrupted", worker, seed, ""))
    except BaseException as exc:  # a bug: the parent reports it in one line, the traceback on --debug
        messages.put(("error", worker, seed, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


class WorkerFailed(RuntimeError):
    """A seed's worker failed with an unexpected error (its traceback follows the first line)."""


class Schedule:
    """Which tasks are ready: a seed's later stages once it is prepared (longest first, earliest
    seed first), its report once they are all done; the next seed's preparation when no later
    stage is waiting."""

    def __init__(self, seeds: list[int], prepare: tuple[str, ...], later: list[str], reports: bool):
        self.prepare, self.later, self.reports = prepare, later, reports
        self.waiting = list(seeds)  # not yet prepared
        self.ready: list[Task] = []
        self.open: dict[int, int] = {}  # seed → its later-stage tasks not done yet

    def next(self) -> Task | None:
        if self.ready:
            return self.ready.pop(0)
        if self.waiting:
            return Task(self.waiting.pop(0), self.prepare)
        return None

    def done(self, task: Task) -> None:
        if task.stages == self.prepare:
            self.ready += [Task(task.seed, (stage,)) for stage in self.later]
            self.open[task.seed] = len(self.later)
            if not self.later:
                self._finished(task.seed)
        elif task.stages:
            self.open[task.seed] -= 1
            if not self.open[task.seed]:
                self._finished(task.seed)

    def _finished(self, seed: int) -> None:
        if self.reports:
            self.ready.insert(0, Task(seed, ()))  # a report first: it frees the seed's memory sooner


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


def compute_seeds(jobs: list[SeedJob], workers: int, listener: StageListener | None = None,
                  echo_warning: Callable[[str], None] | None = None, prepare: tuple[str, ...] = PREPARE,
                  later: list[str] | None = None, echo: Callable[[str], None] | None = None) -> None:
    """Compute ``jobs`` in ``workers`` processes (each started once): every seed's ``prepare``
    stages, then each of its ``later`` stages as its own task (give them longest first), then
    the seed's ``then``. Data warnings go to ``echo_warning``, other lines a worker prints to
    ``echo``, and with the jobs' ``progress`` the workers' bars to one status line.

    The first failure stops the rest (their finished chips stay committed) and is raised here:
    a ``UserError`` as the worker raised it, anything else as ``WorkerFailed``; Ctrl-C stops every
    worker and raises ``KeyboardInterrupt``.
    """
    later = [s for s in STAGES if s not in prepare] if later is None else later
    by_seed = {job.cfg.seed: job for job in jobs}
    schedule = Schedule(list(by_seed), prepare, later, reports=any(job.then is not None for job in jobs))
    ctx = mp.get_context("spawn")  # a fresh interpreter: no forked OpenMP or torch state
    messages = ctx.Queue()
    width = max(1, min(workers, len(jobs) * (1 + len(later))))
    inboxes = {w: ctx.Queue() for w in range(width)}
    procs = {w: ctx.Process(target=serve, args=(w, inboxes[w], messages, by_seed, os.getpid()),
                            name=f"fairxbar worker {w}", daemon=True) for w in range(width)}
    for proc in procs.values():
        proc.start()
    busy: dict[int, Task | None] = {w: None for w in procs}  # worker → its task (None: idle); gone once exited
    status = StatusLine(any(job.progress for job in jobs))
    exiting: set[int] = set()
    dead_since: dict[int, float] = {}
    failure: BaseException | None = None
    try:
        while busy and failure is None:
            for w in [w for w, task in busy.items() if task is None and w not in exiting]:
                task = schedule.next()
                if task is not None:
                    busy[w] = task
                    inboxes[w].put(task)
                elif all(t is None for t in busy.values()):  # nothing ready and nothing in flight: all done
                    inboxes[w].put(None)
                    exiting.add(w)
            try:
                kind, *rest = messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                failure = _silent_death(procs, busy, dead_since)
                continue
            if kind == "stage":
                if listener is not None:
                    listener.finished(*rest)
            elif kind == "begin":
                if listener is not None:
                    listener.begin(*rest)
            elif kind == "warning":
                if echo_warning is not None:
                    echo_warning(rest[1])
            elif kind == "bar":
                task = busy.get(rest[0])
                if task is not None:
                    status.update(rest[0], task.seed, *rest[1:])
            elif kind == "text":
                if echo is not None:
                    echo(rest[1])
            elif kind == "done":
                schedule.done(rest[1])
                busy[rest[0]] = None
                status.clear(rest[0])
            elif kind == "exit":
                procs[rest[0]].join()
                busy.pop(rest[0])
            else:
                failure = _failure(kind, *rest)
    finally:
        status.close()
        _stop(procs)
        for q in (messages, *inboxes.values()):
            q.close()
    if failure is not None:
        raise failure


def _failure(kind: str, worker: int, seed: int | None, text: str) -> BaseException:
    if kind == "user-error":
        return UserError(text)
    if kind == "interrupted":
        return KeyboardInterrupt()
    first, _, worker_traceback = text.partition("\n")
    failed = WorkerFailed(f"seed {seed}: {first}")  # one line; the worker's traceback shows under --debug
    failed.add_note(worker_traceback)
    return failed


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
