"""Ray backend: sweep cells (in chunks of chips) run as Ray tasks; the driver writes the store.

A worker that dies has its task retried by Ray (``max_retries``); rows are only written by the
driver when a task returns, and the store ignores a (cell, trial) it already holds, so nothing is
lost or duplicated. Needs the optional extra: ``pip install 'fairxbar-aihw[ray]'``.
"""
from __future__ import annotations

import copy
import os
import secrets
import sys
from typing import Any, Iterator

from ..errors import UserError
from .montecarlo import Cell, ChipEvaluator, Row, chip_rows

CHIPS_PER_TASK = 8
GPU_SHARE = 0.25  # with --device cuda each task asks Ray for this much of a GPU: 4 tasks share one
KILL_ONCE_ENV = "FAIRXBAR_RAY_KILL_ONCE"  # test hook: the first task to see this file missing dies


def keep_local_cluster_offline() -> None:
    """Settings for a local Ray cluster that keep everything on this machine, set before Ray loads.

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


def _task(payload: tuple, cell: Cell, preset: Any, masks: Any, trials: list[int], seed: int,
          times: list[float | None]) -> list[Row]:
    marker = os.environ.get(KILL_ONCE_ENV)
    if marker and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)  # simulate a worker crash mid-task
    model, test, num_classes, digital_layers, device = payload
    evaluator = ChipEvaluator(model, test, num_classes, "cuda" if device.startswith("cuda") else "cpu",
                              digital_layers)  # Ray's CUDA_VISIBLE_DEVICES picks the worker's GPU
    return [row for rows in chip_rows(evaluator, cell, preset, masks, trials, seed, times) for row in rows]


def run_on_ray(evaluator: ChipEvaluator, todo: list, seed: int, times: list[float | None],
               address: str | None) -> Iterator[list[Row]]:
    """Yield each finished task's rows as soon as it returns."""
    ray = _import_ray(local=address is None)
    if not ray.is_initialized():
        env = {KILL_ONCE_ENV: os.environ[KILL_ONCE_ENV]} if KILL_ONCE_ENV in os.environ else {}
        local = {"_node_ip_address": "127.0.0.1"} if address is None else {}  # bind to loopback only
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": env} if env else None, **local)
        except Exception as exc:
            raise UserError(f"cannot reach the Ray cluster at {address or 'local'}: {exc}") from exc
    options = task_options(evaluator.device)
    if "num_gpus" in options and not ray.cluster_resources().get("GPU", 0):
        raise UserError("--device cuda with --backend ray, but the Ray cluster has no GPUs (its tasks would "
                        "wait forever); add GPU nodes or use --device cpu")
    task = ray.remote(max_retries=3, retry_exceptions=False, **options)(_task)
    payload = ray.put((copy.deepcopy(evaluator.model).cpu(), evaluator.test, evaluator.num_classes,
                       evaluator.digital_layers, evaluator.device))
    futures = []
    for cell, preset, masks, missing in todo:
        for i in range(0, len(missing), CHIPS_PER_TASK):
            futures.append(task.remote(payload, cell, preset, masks, missing[i : i + CHIPS_PER_TASK], seed, times))
    while futures:
        ready, futures = ray.wait(futures, num_returns=1)
        yield ray.get(ready[0])
