"""Non-ideality models as aihwkit ``BaseNoiseModel`` subclasses (paper §II-C; docs/user-guide.md, "Device presets").

They plug into aihwkit's own ``program_weights()`` / ``drift_weights()`` path: a tile calls
``apply_programming_noise(reference_weights)`` when programmed and ``apply_drift_noise`` when
drifted. ``MaskedNoiseModel`` is the per-tile override that puts one model's errors on the
targeted weights and another's (the mitigated residual, or nothing) on the rest.

Randomness comes from torch's global RNG, which ``hardware.program`` seeds per chip, so the
same seed always gives the same chip (also for aihwkit's own PCM / ReRAM models).
"""
from __future__ import annotations

import math
from typing import Any, List, Optional, Tuple

import torch
from aihwkit.inference.noise.base import BaseNoiseModel
from aihwkit.inference.converter.conductance import SinglePairConductanceConverter
from torch import Tensor


def _tile_wmax(weights: Tensor) -> Tensor:
    """The tile's weight range w_max (max |w|); 1 for an all-zero tile to avoid 0/0."""
    w_max = weights.abs().max()
    return torch.where(w_max > 0, w_max, torch.ones_like(w_max))


def variation_sigma(noise_rate: float, bits_per_device: int, devices_per_weight: int) -> float:
    """Paper eq. 5: σ = σ'_G · sqrt(1 + 2^(2(N/M − 1)))."""
    return noise_rate * math.sqrt(1.0 + 2.0 ** (2.0 * (bits_per_device / devices_per_weight - 1.0)))


class _NoDriftMixin:
    """Paper models describe programming-time errors only; drift leaves weights as programmed."""

    @torch.no_grad()
    def apply_drift_noise(self, weights: Tensor, drift_noise_parameters: List[Optional[Tensor]],
                          t_inference: float) -> Tensor:
        return weights.clone()


class IdealNoiseModel(_NoDriftMixin, BaseNoiseModel):
    """No programming error and no drift: the chip holds the weights exactly."""

    @torch.no_grad()
    def apply_programming_noise(self, weights: Tensor) -> Tuple[Tensor, List[Optional[Tensor]]]:
        return weights.clone(), [None]


class PaperVariationNoiseModel(_NoDriftMixin, BaseNoiseModel):
    """Paper eq. 4–5: w = w0 + Δw, Δw ~ N(0, σ·w_max), σ from the noise rate and bit slicing."""

    def __init__(self, noise_rate: float, bits_per_device: int = 2, devices_per_weight: int = 4):
        super().__init__()
        self.noise_rate = float(noise_rate)
        self.bits_per_device = int(bits_per_device)
        self.devices_per_weight = int(devices_per_weight)
        self.sigma = variation_sigma(self.noise_rate, self.bits_per_device, self.devices_per_weight)

    @torch.no_grad()
    def apply_programming_noise(self, weights: Tensor) -> Tuple[Tensor, List[Optional[Tensor]]]:
        noise = torch.randn(weights.shape, dtype=weights.dtype, device="cpu").to(weights.device)
        return weights + noise * (self.sigma * _tile_wmax(weights)), [None]


class PaperSAFNoiseModel(_NoDriftMixin, BaseNoiseModel):
    """Paper SAF: |w| quantised to ``weight_bits`` levels of the tile range; every bit cell is
    faulty with rate p and then stuck at 0 or 1 with equal probability. The sign is kept
    (sign-magnitude storage, the sign held by the differential pair)."""

    def __init__(self, saf_rate: float, weight_bits: int = 8):
        super().__init__()
        self.saf_rate = float(saf_rate)
        self.weight_bits = int(weight_bits)

    @torch.no_grad()
    def apply_programming_noise(self, weights: Tensor) -> Tuple[Tensor, List[Optional[Tensor]]]:
        levels = 2**self.weight_bits - 1
        w_max = _tile_wmax(weights)
        q = torch.round(weights.abs() / w_max * levels).to(torch.int64)
        shape = (*weights.shape, self.weight_bits)
        faulty = torch.rand(shape, device="cpu").to(weights.device) < self.saf_rate
        stuck_one = torch.rand(shape, device="cpu").to(weights.device) < 0.5
        bit_vals = 2 ** torch.arange(self.weight_bits, device=weights.device)
        bits = (q.unsqueeze(-1) // bit_vals) % 2
        bits = torch.where(faulty, stuck_one.to(torch.int64), bits)
        q_faulty = (bits * bit_vals).sum(-1)
        sign = torch.where(weights < 0, -1.0, 1.0).to(weights.dtype)  # a zero weight can still fault upward
        return sign * q_faulty.to(weights.dtype) / levels * w_max, [None]


class ConductanceSAFNoiseModel(_NoDriftMixin, BaseNoiseModel):
    """Device-level SAF: each device of the differential pair is stuck at g_min or g_max
    (equal odds) with rate p, through aihwkit's ``SinglePairConductanceConverter``."""

    def __init__(self, saf_rate: float, g_max: float = 25.0, g_min: float = 0.0):
        super().__init__(SinglePairConductanceConverter(g_max=g_max, g_min=g_min))
        self.saf_rate = float(saf_rate)
        self.g_max = float(g_max)
        self.g_min = float(g_min)

    @torch.no_grad()
    def apply_programming_noise_to_conductance(self, g_target: Tensor) -> Tensor:
        faulty = torch.rand(g_target.shape, device="cpu").to(g_target.device) < self.saf_rate
        high = torch.rand(g_target.shape, device="cpu").to(g_target.device) < 0.5
        stuck = torch.where(high, torch.full_like(g_target, self.g_max), torch.full_like(g_target, self.g_min))
        return torch.where(faulty, stuck, g_target)

    def generate_drift_coefficients(self, g_target: Tensor) -> Optional[Tensor]:
        return None


class MaskedNoiseModel(BaseNoiseModel):
    """Per-tile override: ``targeted`` errors where ``mask`` is True, ``untargeted`` elsewhere.

    ``untargeted=None`` means fully mitigated weights: bit-for-bit the reference values,
    also after drift.
    """

    def __init__(self, targeted: BaseNoiseModel, untargeted: Optional[BaseNoiseModel], mask: Tensor):
        super().__init__()
        self.targeted = targeted
        self.untargeted = untargeted
        self.mask = mask.bool()

    def __eq__(self, other: object) -> bool:  # masks are tensors: compare by identity
        return self is other

    def _mask_for(self, weights: Tensor) -> Tensor:
        if tuple(self.mask.shape) != tuple(weights.shape):
            raise ValueError(f"mask shape {tuple(self.mask.shape)} != tile weight shape {tuple(weights.shape)}")
        return self.mask.to(weights.device)

    @torch.no_grad()
    def apply_programming_noise(self, weights: Tensor) -> Tuple[Tensor, List[Any]]:
        mask = self._mask_for(weights)
        w_t, nu_t = self.targeted.apply_programming_noise(weights)
        if self.untargeted is None:
            w_u, nu_u = weights, None
        else:
            w_u, nu_u = self.untargeted.apply_programming_noise(weights)
        return torch.where(mask, w_t, w_u), [nu_t, nu_u]

    @torch.no_grad()
    def apply_drift_noise(self, weights: Tensor, drift_noise_parameters: List[Any], t_inference: float) -> Tensor:
        mask = self._mask_for(weights)
        nu_t, nu_u = drift_noise_parameters
        d_t = self.targeted.apply_drift_noise(weights, nu_t, t_inference)
        if self.untargeted is None:
            return torch.where(mask, d_t, weights)
        d_u = self.untargeted.apply_drift_noise(weights, nu_u, t_inference)
        return torch.where(mask, d_t, d_u)
