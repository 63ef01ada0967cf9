"""Chip errors during retraining, drawn through the same per-tile aihwkit path as the Monte-Carlo chips.

Why the same path: errors scale with each tile's range, so a layer spread over several tiles
gets different errors than one scaled by the whole layer's range; emulating them any other way
would train against a different chip than the one evaluated. Here emulated chip k of a preset
is Monte-Carlo chip k: same seed, same masks, same weights give the same programmed values.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn as nn

from ..hardware import Preset, analog_layers, effective_weights, install_overrides, program_chip, tile_slices, to_analog
from ..models import Masks, crossbar_layers
from ..rng import chip_seed


class ChipEmulator:
    """Programs a model's current weights onto chip ``k`` of ``preset`` and hands the result back."""

    def __init__(self, model: nn.Module, preset: Preset, digital_layers: list[str] | None, study_seed: int):
        self.model = model
        self.preset = preset
        self.study_seed = int(study_seed)
        self.amodel = to_analog(model, preset, digital_layers, device="cpu")
        self.layers = {name: crossbar_layers(model)[name] for name, _ in analog_layers(self.amodel)}
        self.intensity = 0.0 if preset.intensity is None else float(preset.intensity)

    def chip_seed(self, k: int) -> int:
        """Monte-Carlo chip k's seed for this preset and intensity."""
        return chip_seed(self.study_seed, self.preset.name, self.intensity, k)

    @torch.no_grad()
    def programmed(self, masks: Masks | None, seed: int) -> dict[str, torch.Tensor]:
        """The model's current weights as programmed on chip ``seed`` ((out, in·kh·kw) per layer)."""
        for name, layer in analog_layers(self.amodel):
            w = self.layers[name].weight.detach().reshape(self.layers[name].weight.shape[0], -1).cpu()
            for tile, rows, cols in tile_slices(layer):
                tile.reference_combined_weights = w[rows, cols].clone()  # program from these weights
        analog = None if masks is None else {n: m for n, m in masks.items() if n in self.layers}
        install_overrides(self.amodel, self.preset, analog)
        program_chip(self.amodel, seed)
        return effective_weights(self.amodel)

    @torch.no_grad()
    def _write(self, weights: dict[str, torch.Tensor]) -> None:
        for name, w in weights.items():
            target = self.layers[name].weight
            target.copy_(w.reshape(target.shape).to(target.device, target.dtype))

    @contextlib.contextmanager
    def perturbed(self, masks: Masks | None, seed: int) -> Iterator[None]:
        """Inside the block the model computes with chip ``seed``'s weights; its clean weights come back after
        (``errors: straight-through``: the gradient from the chip updates the clean weights)."""
        saved = {name: layer.weight.detach().clone() for name, layer in self.layers.items()}
        self._write(self.programmed(masks, seed))
        try:
            yield
        finally:
            with torch.no_grad():
                for name, layer in self.layers.items():
                    layer.weight.copy_(saved[name])

    def persist(self, masks: Masks | None, seed: int) -> None:
        """The model's weights become chip ``seed``'s programmed weights (``errors: persistent``)."""
        self._write(self.programmed(masks, seed))
