"""Monte-Carlo chips: one trial = program one chip (seeded), evaluate the cached test set, store.

Fast path: with an ideal MVM (``forward: {is_perfect: true}``) the analog forward equals a
digital forward with the programmed weights, so each chip's effective weights are read back
from aihwkit into a digital shadow model and evaluated there (proven equal by a test).
Non-ideal periphery (DAC/ADC, output noise) always takes aihwkit's analog forward.

Chip seeds depend on (study seed, preset, intensity, trial) but not on the method or target,
so methods are compared on the same chips (common random numbers: paired differences).
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import torch
import torch.nn as nn
from tqdm import tqdm

from ..data.splits import TensorSplit
from ..hardware import (Preset, analog_layers, drift, effective_weights, install_overrides, load_into_digital,
                        program_chip, to_analog)
from ..hardware.analog import Masks
from ..metrics import flat_row
from ..store import ResultsStore
from ..training.evaluate import metrics_from_logits, predict_logits


@dataclass(frozen=True)
class Cell:
    """One sweep cell: a hardware setting, a targeting method and a target fraction."""

    kind: str  # "sweep" or "drift"
    preset: str
    intensity: float | None
    method: str
    target: float | None
    tag: str = ""  # hash of what else the rows depend on (resolved preset, retraining config)

    def key(self) -> str:
        base = f"{self.kind}|{self.preset}|{self.intensity}|{self.method}|{self.target}"
        return f"{base}|{self.tag}" if self.tag else base


def chip_seed(study_seed: int, preset: str, intensity: float | None, trial: int) -> int:
    blob = f"{study_seed}|{preset}|{intensity}|{trial}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little") & 0x7FFFFFFF


class ChipEvaluator:
    """Holds one analog model per preset and a digital shadow for the fast path."""

    def __init__(self, model: nn.Module, test: TensorSplit, num_classes: int, device: str = "cpu"):
        self.model = model.eval()
        self.test = test
        self.num_classes = num_classes
        self.device = device
        self.shadow = copy.deepcopy(model).to(device).eval()
        self._analog: dict[str, nn.Module] = {}

    def analog(self, preset: Preset) -> nn.Module:
        key = repr(sorted(preset.values.items(), key=lambda kv: kv[0]))
        key = f"{preset.name}:{hashlib.sha256(key.encode()).hexdigest()[:8]}"
        if key not in self._analog:
            self._analog[key] = to_analog(self.model, preset).to(self.device)
        return self._analog[key]

    def logits(self, amodel: nn.Module, preset: Preset) -> torch.Tensor:
        if preset.ideal_forward:
            load_into_digital(self.shadow, effective_weights(amodel))
            return predict_logits(self.shadow, self.test, self.device)
        return predict_logits(amodel, self.test, self.device)

    def row(self, logits: torch.Tensor) -> dict[str, float]:
        return flat_row(metrics_from_logits(logits, self.test, self.num_classes))


def run_cells(
    evaluator: ChipEvaluator,
    jobs: Iterable[tuple[Cell, Preset, Masks | None]],
    store: ResultsStore,
    run_id: str,
    trials: int,
    study_seed: int,
    drift_times: list[float] | None = None,
    progress: bool = True,
    desc: str = "chips",
) -> int:
    """Run every missing (cell, trial); each finished chip is one committed transaction.

    With ``drift_times`` a chip is programmed once and evaluated at each time (one row per time,
    all committed together). Returns the number of chips run now.
    """
    jobs = list(jobs)
    done = store.done(run_id)
    times = drift_times or [None]
    todo = []
    for cell, preset, masks in jobs:
        missing = [t for t in range(trials) if not all(
            (cell_key(cell, tt), t) in done for tt in times)]
        if missing:
            todo.append((cell, preset, masks, missing))
    total = sum(len(m) for *_, m in todo)
    bar = tqdm(total=total, desc=desc, disable=not progress or total == 0, unit="chip")
    for cell, preset, masks, missing in todo:
        amodel = evaluator.analog(preset)
        install_overrides(amodel, preset, masks)
        n_targeted = None if masks is None else sum(int(m.sum()) for m in masks.values())
        n_total = sum(l.analog_module.out_size * l.analog_module.in_size for _, l in analog_layers(amodel))
        for trial in missing:
            seed = chip_seed(study_seed, cell.preset, cell.intensity, trial)
            program_chip(amodel, seed)
            rows = []
            for t in times:
                if t is not None:
                    drift(amodel, preset, t, seed)
                data: dict[str, Any] = {**{k: v for k, v in asdict(cell).items() if k != "tag"}, "t_inference": t,
                                        "targeted_fraction": 1.0 if n_targeted is None else n_targeted / n_total}
                data.update(evaluator.row(evaluator.logits(amodel, preset)))
                rows.append((cell_key(cell, t), trial, seed, data))
            store.write_trials(run_id, rows)
            bar.update(1)
    bar.close()
    return total


def cell_key(cell: Cell, t: float | None = None) -> str:
    """Store key of a cell's rows (drift rows carry their time)."""
    return cell.key() if t is None else f"{cell.key()}|t={t:g}"

