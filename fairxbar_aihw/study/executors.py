"""Where Monte-Carlo chips run: in this process, or as Ray tasks on a cluster.

Both executors take the same work (cells with their missing trials) and yield finished chips'
rows; the caller alone writes the store, so resume and crash semantics are the same on both.
A Ray worker that dies has its task retried (``max_retries``); the store ignores a
(cell, trial) it already holds, so nothing is lost or duplicated. Ray is an optional extra:
``pip install 'fairxbar-aihw[ray]'``.
"""
from __future__ import annotations

import copy
import os
import secrets
import sys
from typing import Any, Callable, Iterator, Protocol

from ..errors import UserError
from .chips import ChipEvaluator, Row, chip_rows
from .plan import Cell

CHIPS_PER_TASK = 8
GPU_SHARE = 0.25  # with --device cuda each task asks Ray for this much of a GPU: 4 tasks share one
Work = list  # [(cell, preset, masks, missing trials), ...]


class Executor(Protocol):
    """Runs the missing chips of some cells and yields each finished group of rows."""

    def run(self, evaluator: ChipEvaluator, todo: Work, seed: int, times: list[float | None]
            ) -> Iterator[list[Row]]: ...


class LocalExecutor:
    """Every chip in this process, one after another (one committed transaction each)."""

    def run(self, evaluator: ChipEvaluator, todo: Work, seed: int, times: list[float | None]
            ) -> Iterator[list[Row]]:
        for cell, preset, masks, missing in todo:
            yield from chip_rows(evaluator, cell, preset, masks, missing, seed, times)


def keep_local_cluster_offline() -> None:
    """Settings for a local Ray cluster that keep everything on this machine, set before Ray starts.

    Usage statistics (which also probe cloud metadata addresses) are off; token authentication
    stays on, but with a random token held in this process's environment instead of a file
    written to ``~/.ray/auth_token``. A user's own settings of these variables win.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    if os.environ["RAY_AUTH_MODE"] == "token" and not os.environ.get("RAY_AUTH_TOKEN_PATH"):
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    if "ray" in sys.modules:  # Ray read its settings when it was imported: make it read them again
        try:
            from ray._raylet import Config

            Config.initialize("")
        except (ImportError, AttributeError):
            pass


def _import_ray(local: bool) -> Any:
    if local:
        keep_local_cluster_offline()
    try:
        import ray
    except ImportError as exc:
        raise UserError("the ray backend needs Ray: pip install 'fairxbar-aihw[ray]'") from exc
    return ray


def task_options(device: str) -> dict[str, float]:
    """Ray resources of one task: a share of a GPU when the study runs on one, else one CPU."""
    return {"num_gpus": GPU_SHARE} if device.startswith("cuda") else {"num_cpus": 1}


def chip_task(payload: tuple, cell: Cell, preset: Any, masks: Any, trials: list[int], seed: int,
              times: list[float | None]) -> list[Row]:
    """One Ray task: a few chips of one cell, evaluated on the worker."""
    model, test, num_classes, digital_layers, device, reference = payload
    evaluator = ChipEvaluator(model, test, num_classes, "cuda" if device.startswith("cuda") else "cpu",
                              digital_layers, reference)  # Ray's CUDA_VISIBLE_DEVICES picks the worker's GPU
    return [row for rows in chip_rows(evaluator, cell, preset, masks, trials, seed, times) for row in rows]


class RayExecutor:
    """Chips as Ray tasks (``CHIPS_PER_TASK`` a task); ``address=None`` starts a local cluster.

    ``task`` replaces the function each task runs (tests wrap it to kill a worker).
    """

    def __init__(self, address: str | None = None, task: Callable[..., list[Row]] = chip_task,
                 runtime_env: dict[str, Any] | None = None):
        self.address = address
        self.task = task
        self.runtime_env = runtime_env

    def _connect(self) -> Any:
        ray = _import_ray(local=self.address is None)
        if not ray.is_initialized():
            local = {"_node_ip_address": "127.0.0.1"} if self.address is None else {}  # loopback only
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         runtime_env=self.runtime_env, **local)
            except Exception as exc:
                raise UserError(f"cannot reach the Ray cluster at {self.address or 'local'}: {exc}") from exc
        return ray

    def run(self, evaluator: ChipEvaluator, todo: Work, seed: int, times: list[float | None]
            ) -> Iterator[list[Row]]:
        if not todo:
            return
        ray = self._connect()
        options = task_options(evaluator.device)
        if "num_gpus" in options and not ray.cluster_resources().get("GPU", 0):
            raise UserError("--device cuda with --backend ray, but the Ray cluster has no GPUs (its tasks would "
                            "wait forever); add GPU nodes or use --device cpu")
        task = ray.remote(max_retries=3, retry_exceptions=False, **options)(self.task)
        payload = ray.put((copy.deepcopy(evaluator.model).cpu(), evaluator.test, evaluator.num_classes,
                           evaluator.digital_layers, evaluator.device, evaluator.reference))
        futures = []
        for cell, preset, masks, missing in todo:
            for i in range(0, len(missing), CHIPS_PER_TASK):
                futures.append(task.remote(payload, cell, preset, masks, missing[i : i + CHIPS_PER_TASK], seed, times))
        while futures:
            ready, futures = ray.wait(futures, num_returns=1)
            yield ray.get(ready[0])


# Each ``--backend`` choice, built from the Ray cluster address the command line gives (local ignores it).
BACKENDS: dict[str, Callable[[str | None], Executor]] = {
    "local": lambda address: LocalExecutor(),
    "ray": lambda address: RayExecutor(address),
}


def make_executor(backend: str, address: str | None = None) -> Executor:
    """The executor a command line names (``local`` or ``ray``)."""
    if backend not in BACKENDS:
        raise UserError(f"unknown backend '{backend}'; use {' or '.join(BACKENDS)}")
    return BACKENDS[backend](address)
