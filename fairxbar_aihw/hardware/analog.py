"""Models on aihwkit crossbars: conversion, per-chip programming with masks, drift, read-back.

Everything goes through aihwkit: ``convert_to_analog`` with ``TorchInferenceRPUConfig`` tiles,
each tile's ``rpu_config.noise_model`` set to a ``MaskedNoiseModel`` for its slice of the
layer mask, then aihwkit's ``program_analog_weights()`` / ``drift_analog_weights()``.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterator

import torch
import torch.nn as nn
from aihwkit.inference.compensation.base import BaseDriftCompensation
from aihwkit.inference.compensation.drift import GlobalDriftCompensation, PerColumnDriftCompensation
from aihwkit.inference.noise.base import BaseNoiseModel
from aihwkit.nn.conversion import convert_to_analog
from aihwkit.simulator.configs import TorchInferenceRPUConfig
from aihwkit.simulator.parameters import IOParameters

from ..errors import UserError, listing
from ..rng import drift_seed, seeded_rng
from ..models import Masks, crossbar_layers, device_of
from .noise import IdealNoiseModel, MaskedNoiseModel
from .presets import DRIFT_COMPENSATIONS, MANAGEMENT_ENUMS, Preset, forward_enum, supported_drift_times
from .technologies import TECHNOLOGIES

# aihwkit's drift compensation for each ``drift_compensation`` value of a preset (none: the raw drifted outputs).
DRIFT_COMPENSATION: dict[str, Callable[[], BaseDriftCompensation | None]] = {
    "none": lambda: None,
    "global": GlobalDriftCompensation,
    "per-column": PerColumnDriftCompensation,
}
assert set(DRIFT_COMPENSATION) == set(DRIFT_COMPENSATIONS), "every drift_compensation value needs its aihwkit class"

def make_noise_model(preset: Preset, scale: float = 1.0) -> BaseNoiseModel | None:
    """The preset's noise model with its intensity knob multiplied by ``scale``.

    Returns None when the scaled model does nothing at all (exact weights, no drift), which
    lets masked overrides keep untargeted weights bit-for-bit.
    """
    v = dict(preset.values)
    key = v["intensity_key"]
    if key is not None:
        v[key] = v[key] * scale
    model = v["noise_model"]
    if model not in TECHNOLOGIES:
        raise UserError(f"unknown noise model '{model}'")
    return TECHNOLOGIES[model].build(v)


def rpu_config(preset: Preset) -> TorchInferenceRPUConfig:
    """aihwkit config of a preset: pure-PyTorch inference tiles (the C++ tiles fail on this torch)."""
    cfg = TorchInferenceRPUConfig()
    cfg.mapping.max_input_size = preset.tile_cols
    cfg.mapping.max_output_size = preset.tile_rows
    cfg.mapping.digital_bias = True
    cfg.mapping.weight_scaling_omega = 0.0
    cfg.forward = IOParameters(**{k: forward_enum(k)(v) if k in MANAGEMENT_ENUMS else v  # names → aihwkit enums
                                  for k, v in preset.forward.items()})
    cfg.noise_model = make_noise_model(preset) or IdealNoiseModel()
    cfg.drift_compensation = DRIFT_COMPENSATION[preset.drift_compensation]()
    return cfg


def to_analog(model: nn.Module, preset: Preset, digital_layers: list[str] | None = None,
              device: str | torch.device | None = None) -> nn.Module:
    """An analog copy of ``model`` in eval mode on ``device`` (default: the model's): conv and
    linear layers on crossbars, except the ``digital_layers`` (module names) that stay digital."""
    digital = list(digital_layers or [])
    unknown = sorted(set(digital) - set(crossbar_layers(model)))
    if unknown:
        raise UserError(f"digital_layers {listing(unknown)} are not conv/linear layers of this model; "
                        f"choose from {listing(crossbar_layers(model), 20)}")
    analog = convert_to_analog(copy.deepcopy(model).cpu(), rpu_config(preset), exclude_modules=digital)
    return analog.to(device or device_of(model)).eval()


def analog_layers(amodel: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(name, module) of every analog layer, names as in the digital model."""
    for name, module in amodel.named_modules():
        if hasattr(module, "analog_module"):
            yield name, module


def tile_slices(layer: nn.Module) -> Iterator[tuple[nn.Module, slice, slice]]:
    """Each tile of a layer with the (rows, cols) slice of the layer's (out, in·kh·kw) weight it holds."""
    am = layer.analog_module
    if not hasattr(am, "array"):
        yield am, slice(0, am.out_size), slice(0, am.in_size)
        return
    in_start = 0
    for in_size, in_tiles in zip(am.in_sizes, am.array):
        out_start = 0
        for out_size, tile in zip(am.out_sizes, in_tiles):
            yield tile, slice(out_start, out_start + out_size), slice(in_start, in_start + in_size)
            out_start += out_size
        in_start += in_size


def install_overrides(amodel: nn.Module, preset: Preset, masks: Masks | None) -> dict[str, int]:
    """Set each tile's noise model to the masked override for its slice; returns targeted counts."""
    targeted_model = make_noise_model(preset)
    residual_model = make_noise_model(preset, scale=preset.residual)
    counts: dict[str, int] = {}
    names = {n for n, _ in analog_layers(amodel)}
    if masks is not None:
        unknown = sorted(set(masks) - names)
        if unknown:
            raise UserError(f"mask names {listing(unknown)} are not analog layers of this model")
    for name, layer in analog_layers(amodel):
        out_size, in_size = layer.analog_module.out_size, layer.analog_module.in_size
        mask = (torch.ones(out_size, in_size, dtype=torch.bool) if masks is None
                else masks.get(name, torch.zeros(out_size, in_size, dtype=torch.bool)).bool().cpu())
        if tuple(mask.shape) != (out_size, in_size):
            raise UserError(f"mask for {name} has shape {tuple(mask.shape)}; expected {(out_size, in_size)}")
        counts[name] = int(mask.sum())
        for tile, rows, cols in tile_slices(layer):
            tile.rpu_config.noise_model = (
                IdealNoiseModel() if targeted_model is None and residual_model is None
                else MaskedNoiseModel(targeted_model or IdealNoiseModel(), residual_model, mask[rows, cols])
            )
    return counts


def program_chip(amodel: nn.Module, seed: int) -> None:
    """Program every tile with its installed noise model, as chip number ``seed``.

    aihwkit's programming keeps the drift-compensation factor of the last drift, so a chip
    programmed after another chip was drifted would be read with that chip's compensation; a
    freshly programmed chip is at t = 0, where the factor is 1, so it is reset here."""
    amodel.eval()
    with seeded_rng(seed, device_of(amodel)):
        amodel.program_analog_weights()
    with torch.no_grad():
        for _, layer in analog_layers(amodel):
            for tile, _, _ in tile_slices(layer):
                alpha = getattr(tile, "alpha", None)
                if isinstance(alpha, torch.Tensor):
                    alpha.fill_(1.0)


def program(amodel: nn.Module, preset: Preset, masks: Masks | None = None, seed: int = 0) -> dict[str, int]:
    """Program one chip (``seed``) through aihwkit; ``masks=None`` puts errors on every weight.

    Returns the number of targeted weights per layer.
    """
    counts = install_overrides(amodel, preset, masks)
    program_chip(amodel, seed)
    return counts


def drift(amodel: nn.Module, preset: Preset, t_inference: float, seed: int = 0) -> None:
    """Drift the programmed chip to ``t_inference`` seconds (read noise seeded by ``seed``)."""
    if t_inference < 0:
        raise UserError(f"t_inference must be ≥ 0 seconds, got {t_inference}")
    allowed = supported_drift_times(preset)
    if allowed is not None and t_inference > 0 and float(t_inference) not in allowed:
        raise UserError(f"preset '{preset.name}' can only drift to t = {allowed} s (aihwkit tabulates it "
                        f"there), not {t_inference:g} s")
    amodel.eval()
    with seeded_rng(drift_seed(seed, t_inference), device_of(amodel)):
        amodel.drift_analog_weights(t_inference)


@torch.no_grad()
def effective_weights(amodel: nn.Module) -> dict[str, torch.Tensor]:
    """The weights each analog layer computes with: programmed (and drifted) tile weights,
    digital output scales and drift-compensation factors applied, in (out, in·kh·kw) layout."""
    out: dict[str, torch.Tensor] = {}
    for name, layer in analog_layers(amodel):
        am = layer.analog_module
        full = torch.empty(am.out_size, am.in_size)
        for tile, rows, cols in tile_slices(layer):
            w, _ = tile.get_weights(apply_weight_scaling=True)
            if tile.rpu_config.drift_compensation is not None:
                w = w * tile.alpha.detach().cpu().view(-1, 1)
            full[rows, cols] = w
        out[name] = full
    return out


@torch.no_grad()
def load_into_digital(model: nn.Module, weights: dict[str, torch.Tensor]) -> nn.Module:
    """Write effective weights into a digital model of the same architecture (the fast path)."""
    modules = dict(model.named_modules())
    for name, w in weights.items():
        target = modules[name].weight
        target.copy_(w.reshape(target.shape).to(target.device, target.dtype))
    return model
