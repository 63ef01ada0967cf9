"""How many CPU threads torch uses, and how its idle threads wait: steady on a shared CPU.

Why: torch's CPU kernels run on an OpenMP pool (GNU libgomp in the PyPI wheels). Unless told
otherwise, an idle libgomp thread spins for about 300,000 iterations before it sleeps. Alone,
that saves a few microseconds per parallel region. Beside another CPU-bound process, the
spinning threads steal the cores that the working threads need: a study's Monte-Carlo stage
ran 3.5× slower beside a second torch program on 2 cores (issue 24), against the 2× a fair
share costs. Threads that sleep at once (``OMP_WAIT_POLICY=PASSIVE``) cost little alone and keep
the slowdown near the fair share (docs/benchmarks.md, "Shared CPU").

The thread count itself stays fixed: the cores this process may use shared among the seeds
computed side by side (``plan_workers``), or ``--threads``. Float
reductions depend on it (1 and 2 threads give different logits in the 7th digit, and training
amplifies that), so a count that followed the machine's load would make results depend on
whatever else was running. The report records the count a run used.
"""
from __future__ import annotations

import os
import sys
from typing import MutableMapping, NamedTuple

WAIT_POLICY = "OMP_WAIT_POLICY"
DEFAULT_WAIT_POLICY = "PASSIVE"
USER_CHOICES = (WAIT_POLICY, "GOMP_SPINCOUNT")  # either set by the user: left as it is


def set_wait_policy(environ: MutableMapping[str, str] = os.environ, torch_loaded: bool | None = None) -> str:
    """Idle OpenMP threads sleep instead of spinning, unless the user chose (``OMP_WAIT_POLICY`` or
    ``GOMP_SPINCOUNT`` set: ``OMP_WAIT_POLICY=ACTIVE`` or ``GOMP_SPINCOUNT=300000`` spin again).

    Must run before torch is first imported: libgomp reads the variables once, when it loads.
    Returns the setting in force, in words (``torch_loaded``: whether torch is already imported;
    default: look).
    """
    chosen = [v for v in USER_CHOICES if v in environ]
    if chosen:  # the user's own choice wins
        return ", ".join(f"{v}={environ[v]}" for v in chosen)
    if ("torch" in sys.modules) if torch_loaded is None else torch_loaded:  # too late to choose
        return "libgomp's default (torch was imported first)"
    environ[WAIT_POLICY] = DEFAULT_WAIT_POLICY
    return f"{WAIT_POLICY}={DEFAULT_WAIT_POLICY}"


def available_cores() -> int:
    """The cores this process may use (its CPU affinity, e.g. under taskset or a cluster job), not
    the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def use_threads(threads: int | None = None) -> int:
    """Give torch ``threads`` intra-op threads (default: the available cores); returns the count."""
    import torch

    count = int(threads or available_cores())
    torch.set_num_threads(count)
    return count


class WorkerPlan(NamedTuple):
    """How a study spreads over the CPU: ``workers`` seeds computed at once, each in its own
    process, with ``threads`` torch threads each."""

    workers: int
    threads: int


def plan_workers(seeds: int, workers: int | None = None, threads: int | None = None, cores: int | None = None,
                 parallel: bool = True) -> WorkerPlan:
    """Seeds run side by side, one process each, and each gets an equal share of the cores.

    Why seeds in processes rather than threads in one: a seed is an independent replicate, and
    the demo's small tensors keep two threads from being much faster than one (one seed took
    1.14× less time on 2 threads than on 1 on a 2-core AMD EPYC), while two one-thread seeds side
    by side finished 1.78× faster than one after the other (docs/benchmarks.md). Single-threaded
    processes also share a busy CPU without waiting on each other's descheduled threads.

    The plan depends only on the cores and the study's seed count (or the user's choice), never
    on which seeds are left to compute, so a resumed seed runs with the thread count it started
    with (float sums depend on it); one-stage commands (``inject``, ...) compute seeds one after
    another with the threads this plan gives each. ``parallel`` False (a GPU, a Ray cluster):
    one seed at a time with every core.
    """
    cores = max(1, int(cores or available_cores()))
    if not parallel:
        width = 1
    else:
        width = max(1, min(cores, seeds)) if workers is None else int(workers)
    return WorkerPlan(width, int(threads) if threads else max(1, cores // width))
