"""Mitigation arms of a study: retrained models (cached), their chips, and the pruning rows.

Why apart from the pipeline: the arms are the part of a study that grows (new retraining
protocols, controls, pruning kinds); they talk to the rest through the plan (keys), the store
(rows) and plain models and splits.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable

import torch.nn as nn

from ..data import Splits
from ..hardware.presets import Preset
from ..retrain import MASK_BUILDERS, group_diagnostics, prune_and_finetune, refresh_masks, train_arm
from ..retrain.arm_registry import ARM_LABELS
from ..store import ResultsStore
from ..torchfiles import atomic_torch_save, load_torch_file
from ..training import predict_logits
from .chips import ChipEvaluator
from .executors import Executor
from .keys import RowKind
from .montecarlo import run_cells
from .plan import StudyPlan


def write_ideal_row(store: ResultsStore, run_id: str, key: str, seed: int, evaluator: ChipEvaluator,
                    model: nn.Module, device: str, **fields: Any) -> None:
    """One deterministic row on ideal hardware: the pre-trained model, a retrained arm or a pruned model."""
    row = evaluator.row(predict_logits(model, evaluator.test, device))
    store.write_trial(run_id, key, 0, seed, {"preset": "ideal", "intensity": None, "t_inference": None,
                                             "targeted_fraction": 0.0, **fields, **row})


def arm_model(arm: str, base: nn.Module, baseline_key: str, splits: Splits, plan: StudyPlan, workdir: Path,
              device: str, seed: int, progress: bool) -> tuple[nn.Module, float | None, dict[str, Any]]:
    """A retrained copy of the baseline for one arm, cached on disk by its settings; returns the
    model, the seconds its training took (None when it was loaded) and what its training recorded
    (the kept step and validation history of step 5)."""
    path = workdir / plan.arm_checkpoint_name(arm, baseline_key)
    if path.is_file():
        blob = load_torch_file(path, f"{arm} checkpoint")
        if "state_dict" not in blob:  # an arm checkpoint from before training records were kept
            blob = {"state_dict": blob, "info": {}}
        model = copy.deepcopy(base)
        model.load_state_dict(blob["state_dict"])
        return model.to(device).eval(), None, blob.get("info", {})
    t0 = time.time()
    model, info = train_arm(base, splits, arm, plan.arm_settings(), plan.retrain_preset(), device, seed, progress)
    atomic_torch_save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "info": info}, path)
    return model.eval(), time.time() - t0, info


def evaluate_arm(arm: str, model: nn.Module, splits: Splits, plan: StudyPlan, store: ResultsStore, run_id: str,
                 seed: int, device: str, executor: Executor, progress: bool, desc: str) -> int:
    """An arm's ideal-hardware row, then its chips on the sweep's hardware with its own refreshed masks."""
    label = ARM_LABELS[arm]
    evaluator = ChipEvaluator(model, splits.test, splits.num_classes, device, plan.cfg.model.digital_layers)
    write_ideal_row(store, run_id, plan.retrain_ideal_key(arm), seed, evaluator, model, device,
                    kind=RowKind.RETRAIN_IDEAL, method=label, target=None)
    masks = refresh_masks(model, splits.train, plan.arm_settings(), seed, device).masks
    jobs: list[tuple[Any, Preset, Any]] = [(cell, p, masks) for cell, p in plan.retrain_cells(arm)]
    return run_cells(evaluator, jobs, store, run_id, plan.cfg.chips_per_cell("retrain"), seed, executor,
                     progress=progress, desc=desc)


def diagnostics(models: dict[str, nn.Module], batches: Any, iters: int) -> dict[str, dict[str, float]]:
    """Per-group gradient norm and top Hessian eigenvalue of each model (none when ``iters`` is 0)."""
    return {label: group_diagnostics(m, batches, iters=iters) for label, m in models.items()} if iters else {}


def run_pruning(base: nn.Module, curvature: Callable[[], Any], splits: Splits, plan: StudyPlan,
                store: ResultsStore, run_id: str, seed: int, evaluator: ChipEvaluator, device: str) -> int:
    """Pruning arms (stuck-at-zero) on ideal hardware: one deterministic row per kind × sparsity."""
    pr = plan.cfg.prune
    done = store.done(run_id)
    n = 0
    for kind in pr.kinds:
        for sparsity in pr.sparsities:
            key = plan.prune_key(kind, sparsity)
            if (key, 0) in done:
                continue
            masks = MASK_BUILDERS[kind](base, sparsity, curvature, float(pr.beta))
            pruned = prune_and_finetune(base, masks, splits, int(pr.finetune_steps), float(pr.lr), device=device,
                                        seed=seed, progress=False)
            write_ideal_row(store, run_id, key, seed, evaluator, pruned, device, kind=RowKind.PRUNE, method=kind,
                            target=sparsity, targeted_fraction=float(sparsity))
            n += 1
    return n
