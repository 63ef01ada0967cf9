"""Non-ideality models as aihwkit ``BaseNoiseModel`` subclasses (FairXbar §II-C, Mugdho et al.; README
"References"; docs/user-guide.md, "Device presets").

They plug into aihwkit's own ``program_weights()`` / ``drift_weights()`` path: a tile calls
``apply_programming_noise(reference_weights)`` when programmed and ``apply_drift_noise`` when
drifted. ``MaskedNoiseModel`` is the per-tile override that puts one model's errors on the
targeted weights and another's (the mitigated residual, or nothing) on the rest.

Units: weights are in the layer's own units and every error scales with the tile's w_max (its largest
weight magnitude), so ``noise_rate`` (σ'_G) is a dimensionless fraction of w_max and the error sd is
σ'_G·√(1 + 2^(2(N/M − 1)))·w_max; ``saf_rate`` is a probability per magnitude bit (paper SAF) or per
device (conductance SAF); conductances ``g_max``/``g_min`` are in µS, as in aihwkit's converters.

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
    """FairXbar eq. 4–5: w = w0 + Δw, Δw ~ N(0, (σ·w_max)²), σ = noise_rate·√(1 + 2^(2(N/M − 1)))
    (dimensionless) from the noise rate σ'_G, N = ``bits_per_device`` and M = ``devices_per_weight``."""

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
    """Paper SAF (§II-C): "stochastic (but permanent) bit-flips ... with equal flipping rates for
    0s and 1s" on the weight's ``weight_bits`` magnitude bits.

    Storage: sign-magnitude; the sign is held by the differential pair and never faults, the
    magnitude is |w| quantised to ``weight_bits`` levels of the tile's range w_max. A zero weight
    has magnitude 0 and sign +, so a flip makes it small and positive.

    ``mode="flip"`` (the paper): every magnitude bit flips with probability p, so a weight changes
    with probability 1 − (1 − p)^B. ``mode="stuck"``: every bit cell is faulty with rate p and stuck
    at 0 or 1 with equal odds, so a bit changes with probability p/2.

    A weight none of whose bits changed keeps its exact value (it is not quantised): p → 0 is the
    ideal chip. A changed weight takes its faulty quantised value.
    """

    def __init__(self, saf_rate: float, weight_bits: int = 8, mode: str = "flip"):
        super().__init__()
        if mode not in ("flip", "stuck"):
            raise ValueError(f"saf_mode must be flip or stuck, got {mode!r}")
        self.saf_rate = float(saf_rate)
        self.weight_bits = int(weight_bits)
        self.mode = mode

    @property
    def bit_flip_rate(self) -> float:
        """The probability that one stored bit ends up changed."""
        return self.saf_rate if self.mode == "flip" else self.saf_rate / 2

    @torch.no_grad()
    def apply_programming_noise(self, weights: Tensor) -> Tuple[Tensor, List[Any]]:
        levels = 2**self.weight_bits - 1
        w_max = _tile_wmax(weights)
        q = torch.round(weights.abs() / w_max * levels).to(torch.int64)
        shape = (*weights.shape, self.weight_bits)
        bit_vals = 2 ** torch.arange(self.weight_bits, device=weights.device)
        bits = (q.unsqueeze(-1) // bit_vals) % 2
        faulty = torch.rand(shape, device="cpu").to(weights.device) < self.saf_rate
        if self.mode == "flip":
            new_bits = torch.where(faulty, 1 - bits, bits)
        else:
            stuck_one = torch.rand(shape, device="cpu").to(weights.device) < 0.5
            new_bits = torch.where(faulty, stuck_one.to(torch.int64), bits)
        changed = (new_bits != bits).any(-1)
        q_faulty = (new_bits * bit_vals).sum(-1)
        sign = torch.where(weights < 0, -1.0, 1.0).to(weights.dtype)
        return torch.where(changed, sign * q_faulty.to(weights.dtype) / levels * w_max, weights), [None]


class ConductanceSAFNoiseModel(_NoDriftMixin, BaseNoiseModel):
    """Device-level SAF: each device of the differential pair is stuck at g_min or g_max (µS)
    (equal odds) with probability p per device, through aihwkit's ``SinglePairConductanceConverter``
    (the tile's largest weight magnitude maps to g_max − g_min)."""

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
