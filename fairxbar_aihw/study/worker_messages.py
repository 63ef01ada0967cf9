"""What a seed's worker process tells the study's process, as typed messages, and the relays
that turn a worker's clock calls, warnings and stderr into them.

Why typed: the parent dispatches on the message's class, so a message with a missing or
misplaced field fails where it is made, not as a tuple unpacked wrongly in another process.
Every message is a small frozen dataclass (picklable across ``multiprocessing`` queues).
"""
from __future__ import annotations

import io
import re
import time
import warnings
from dataclasses import dataclass
from typing import Any

from ..errors import DataWarning, UserError
from .schedule import Task


@dataclass(frozen=True)
class StageBegan:
    """A seed's stage began (the clock counts its running time against its estimate)."""

    seed: int
    stage: str


@dataclass(frozen=True)
class StageFinished:
    """A seed's stage ended after ``seconds`` (``computed`` False: it only loaded cached work)."""

    seed: int
    stage: str
    seconds: float
    computed: bool = True


@dataclass(frozen=True)
class DataWarningSeen:
    """A data warning a worker raised (the parent shows each text once)."""

    text: str


@dataclass(frozen=True)
class BarUpdate:
    """A progress bar of a worker: what it counts, done of total."""

    worker: int
    what: str
    done: int
    total: int


@dataclass(frozen=True)
class TextLine:
    """A complete line a worker printed on stderr (not a progress bar)."""

    worker: int
    line: str


@dataclass(frozen=True)
class TaskDone:
    """A worker finished ``task`` and is free for the next."""

    worker: int
    task: Task


@dataclass(frozen=True)
class WorkerExited:
    """A worker was told there is nothing left and ended."""

    worker: int


class WorkerFailed(RuntimeError):
    """A seed's worker failed with an unexpected error (its traceback follows the first line)."""


@dataclass(frozen=True)
class WorkerStopped:
    """A worker's last word when it stops on an error: ``why`` is "user-error" (a problem with the
    input or the machine, shown as the one line ``text``), "interrupted" (Ctrl-C) or "error" (a bug:
    ``text`` is its first line, then its traceback)."""

    worker: int
    seed: int | None
    why: str
    text: str = ""

    def exception(self) -> BaseException:
        """What the parent raises for it."""
        if self.why == "user-error":
            return UserError(self.text)
        if self.why == "interrupted":
            return KeyboardInterrupt()
        first, _, worker_traceback = self.text.partition("\n")
        failed = WorkerFailed(f"seed {self.seed}: {first}")  # one line; the worker's traceback shows under --debug
        failed.add_note(worker_traceback)
        return failed


class Relay:
    """A worker's stand-in for the parent's clock and warning display: both go on the queue."""

    def __init__(self, messages: Any):
        self.messages = messages
        self.python_show_warning = warnings.showwarning

    def begin(self, seed: int, stage: str) -> None:
        self.messages.put(StageBegan(seed, stage))

    def finished(self, seed: int, stage: str, seconds: float, computed: bool = True) -> None:
        self.messages.put(StageFinished(seed, stage, float(seconds), computed))

    def show_warning(self, message: Any, category: type[Warning], *args: Any, **kw: Any) -> None:
        if issubclass(category, DataWarning):
            self.messages.put(DataWarningSeen(str(message)))
        else:
            self.python_show_warning(message, category, *args, **kw)


BAR = re.compile(r"^\s*(?P<desc>.*?):\s+\d+%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)")
BAR_INTERVAL = 1.0  # seconds between a worker's relayed bar updates


class StderrRelay(io.TextIOBase):
    """A worker's stderr: a progress bar's updates go to the parent as ``BarUpdate``, at most one a
    second, and other complete lines as ``TextLine``, so several workers never draw over each other."""

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
                self.messages.put(BarUpdate(self.worker, bar["desc"], n, total))
            return len(text)
        self.line += text
        *lines, self.line = self.line.split("\n")
        for line in lines:
            if line.strip("\r ").strip():
                self.messages.put(TextLine(self.worker, line.strip("\r")))
        return len(text)
