"""One Monte-Carlo chip: program it (seeded), read it at each time, turn the test set into a row.

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
import warnings
from dataclasses import asdict
from typing import Any, Iterator

import torch
import torch.nn as nn

from ..data.splits import TensorSplit
from ..hardware import (Preset, analog_layers, drift, effective_weights, install_overrides, load_into_digital,
                        program_chip, seeded_rng, to_analog)
from ..models import Masks
from ..errors import UserError
from ..metrics import VALUE_PREFIX, churn, compute, flat_row
from ..models.user import crossbar_proxy, is_compiled
from ..rng import chip_seed, read_seed
from ..training.evaluation import metrics_from_logits, predict_logits
from .plan import Cell, cell_key


class ChipEvaluator:
    """Holds one analog model per preset and a digital shadow for the fast path.

    On the fast path chips are programmed (and drifted) on the CPU from CPU-seeded noise and
    only the forward pass runs on `device`: the same seed gives the same chip on any device,
    and programming (elementwise, ~1 ms) is never the bottleneck. Presets whose forward pass
    itself is non-ideal (DAC/ADC, output noise) keep their aihwkit model on `device`.
    """

    def __init__(self, model: nn.Module, test: TensorSplit, num_classes: int, device: str = "cpu",
                 digital_layers: list[str] | None = None, reference: torch.Tensor | None = None):
        """``reference``: the digital model's test predictions when already known (a Ray worker gets
        them from the driver); otherwise computed here, once."""
        self.model = model.eval()
        self.digital_layers = list(digital_layers or [])
        self.test = test
        self.num_classes = num_classes
        self.device = device
        # the shadow lives channels-last: every chip's pass runs in that layout with no conversion
        with warnings.catch_warnings():  # a TorchScript model's .to() reads .grad of non-leaf tensors: harmless
            warnings.simplefilter("ignore", UserWarning)
            self.shadow = copy.deepcopy(model).to(device).to(memory_format=torch.channels_last).eval()
        # what aihwkit converts: the model, or for a compiled one a proxy holding its crossbar weights
        self.crossbars = crossbar_proxy(model) if is_compiled(model) else model
        self._analog: dict[str, nn.Module] = {}
        # what churn counts against: the digital model's predictions, once per evaluator (the
        # shadow is still the unprogrammed model here), not once per chip
        self.reference = (predict_logits(self.shadow, test, device).argmax(1) if reference is None
                          else reference).cpu()
        self._churn_args = (self.reference.numpy(), test.groups.numpy())
        # the k-group reading (dataset.groups: all): every group value scored beside the two groups
        self._values = None if test.value_names is None else (test.values.numpy(), list(test.value_names))

    def analog(self, preset: Preset) -> nn.Module:
        key = repr(sorted(preset.values.items(), key=lambda kv: kv[0]))
        key = f"{preset.name}:{hashlib.sha256(key.encode()).hexdigest()[:8]}"
        if key not in self._analog:
            home = "cpu" if preset.ideal_forward else self.device
            if self.crossbars is not self.model and not preset.ideal_forward:
                raise UserError(f"preset {preset.name} computes through aihwkit's analog forward, which needs the "
                                "model's Python modules; give the model as ONNX (model.file), model.weights or "
                                "model.entry instead of a .pt2 or TorchScript file")
            self._analog[key] = to_analog(self.crossbars, preset, self.digital_layers, device=home)
        return self._analog[key]

    def logits(self, amodel: nn.Module, preset: Preset, read_seed: int) -> torch.Tensor:
        """Test-set logits of the programmed chip; a non-ideal forward (output noise) draws its
        noise from ``read_seed``, so a chip reads the same in a resumed run as in an unbroken one."""
        if preset.ideal_forward:
            load_into_digital(self.shadow, effective_weights(amodel))
            return predict_logits(self.shadow, self.test, self.device)
        with seeded_rng(read_seed, self.device):
            return predict_logits(amodel, self.test, self.device)

    def row(self, logits: torch.Tensor) -> dict[str, float]:
        """The metrics of one chip's test logits and its churn against the digital model, for the two
        groups and, when the study reads every group value, for the k values (``k_`` columns)."""
        preds = logits.argmax(1).numpy()
        row = {**flat_row(metrics_from_logits(logits, self.test, self.num_classes)), **churn(preds, *self._churn_args)}
        if self._values is not None:
            values, names = self._values
            k = compute(self.test.labels.numpy(), preds, values, num_classes=self.num_classes, group_names=names)
            row.update(flat_row(k, prefix=VALUE_PREFIX))
            row.update({VALUE_PREFIX + key: v for key, v in churn(preds, self._churn_args[0], values).items()})
        return row


Job = tuple[Cell, Preset, "Masks | None"]
Row = tuple[str, int, int, dict[str, Any]]


def chip_logits(evaluator: ChipEvaluator, cell: Cell, preset: Preset, masks: Masks | None, trials: list[int],
                study_seed: int, times: list[float | None]
                ) -> Iterator[tuple[int, int, float, list[tuple[float | None, torch.Tensor]]]]:
    """Program the given chips of one cell; yields (trial, chip seed, targeted fraction, [(time,
    test-set logits)]) per chip. Chip ``trial`` is the same chip wherever it is asked for."""
    amodel = evaluator.analog(preset)
    if masks is not None:  # layers kept digital carry no errors
        analog_names = {name for name, _ in analog_layers(amodel)}
        masks = {name: m for name, m in masks.items() if name in analog_names}
    install_overrides(amodel, preset, masks)
    n_targeted = None if masks is None else sum(int(m.sum()) for m in masks.values())
    n_total = sum(l.analog_module.out_size * l.analog_module.in_size for _, l in analog_layers(amodel))
    fraction = 1.0 if n_targeted is None else n_targeted / n_total
    for trial in trials:
        seed = chip_seed(study_seed, cell.preset, cell.intensity, trial)
        program_chip(amodel, seed)
        read = []
        for t in times:
            if t is not None:
                drift(amodel, preset, t, seed)
            read.append((t, evaluator.logits(amodel, preset, read_seed(seed, t))))
        yield trial, seed, fraction, read


def chip_rows(evaluator: ChipEvaluator, cell: Cell, preset: Preset, masks: Masks | None, trials: list[int],
              study_seed: int, times: list[float | None]) -> Iterator[list[Row]]:
    """Program and evaluate the given chips of one cell; yields each chip's rows (one per time)."""
    fields = {k: v for k, v in asdict(cell).items() if k != "tag"}
    for trial, seed, fraction, read in chip_logits(evaluator, cell, preset, masks, trials, study_seed, times):
        rows = []
        for t, logits in read:
            data: dict[str, Any] = {**fields, "t_inference": t, "targeted_fraction": fraction}
            data.update(evaluator.row(logits))
            rows.append((cell_key(cell, t), trial, seed, data))
        yield rows


