"""The audit's per-layer stage: chips with errors on one crossbar layer at a time.

Why: an auditor asks which layer's errors hurt which group; a study's cells put errors on every
layer at once (or on the weights a method targets), so these cells are the audit's own. The
stage registry (``stages.py``) runs it for ``audit`` only.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..models.registry import crossbar_layers
from .keys import RowKind, layer_method
from .montecarlo import run_cells
from .plan import Cell, cell_intensity, preset_tag

if TYPE_CHECKING:
    from .pipeline import StudyRun


def layer_cells(run: "StudyRun") -> list[tuple[Cell, Any, dict[str, torch.Tensor]]]:
    """Errors on one crossbar layer at a time, under the first technology at its intensity."""
    preset, intensities = run.plan.hardware()[0]
    model = run.train_baseline()[0]
    layers = {n: m for n, m in crossbar_layers(model).items() if n not in run.cfg.model.digital_layers}
    shapes = {n: m.weight.reshape(m.weight.shape[0], -1).shape for n, m in layers.items()}
    jobs = []
    x = intensities[0]
    p = preset if x is None else preset.with_intensity(x)
    for name in layers:
        masks = {n: torch.zeros(s, dtype=torch.bool) if n != name else torch.ones(s, dtype=torch.bool)
                 for n, s in shapes.items()}
        cell = Cell(RowKind.LAYER, preset.name, cell_intensity(x), layer_method(name), None, preset_tag(p))
        jobs.append((cell, p, masks))
    return jobs


def layer_sensitivity(run: "StudyRun") -> int:
    """The audit's per-layer stage: chips with errors on one crossbar layer at a time (resumable)."""
    run.code_groups()
    return run_cells(run.evaluator, layer_cells(run), run.store, run.run_id, run.cfg.sweep.trials,
                     run.cfg.seed, run.executor, progress=run.progress, desc=f"{run.name}: one layer at a time")
