"""Fairness / accuracy saliency, per-layer ranks and weight masks (FairXbar §IV-B/C, eqs. 7–10:
Mugdho et al., "FairXbar: Improving the Fairness of Deep Neural Networks with Non-Ideal In-Memory
Computing Hardware"; README "References").

s_i = ½ h⁰_ii θ_i² − β·½ h¹_ii θ_i²   (fairness: most negative = matters to the privileged
                                       group, not to the unprivileged one)
a_i = ½ h⁰_ii θ_i² + ½ h¹_ii θ_i²     (accuracy: smallest = matters least overall)

Masks are per layer in aihwkit's ``get_weights()`` layout (out, in·kh·kw), keyed by module name.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from ..errors import UserError
from ..models import Masks, crossbar_layers
from .methods import FA_RULES, METHOD_INFO, MethodLabel


def saliencies(model: nn.Module, curv: dict[int, dict[str, torch.Tensor]], beta: float = 1.0
               ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(fairness s, accuracy a) per module name, each (out, in·kh·kw)."""
    if 0 not in curv or 1 not in curv:
        raise UserError("curvature must hold both groups 0 and 1")
    s, a = {}, {}
    for name, mod in crossbar_layers(model).items():
        key = f"{name}.weight"
        if key not in curv[0] or key not in curv[1]:
            raise UserError(f"curvature lacks {key}: compute it for this model")
        theta2 = mod.weight.detach().float().cpu() ** 2
        h0 = curv[0][key].float().cpu()
        h1 = curv[1][key].float().cpu()
        rows = mod.weight.shape[0]
        s[name] = (0.5 * h0 * theta2 - beta * 0.5 * h1 * theta2).reshape(rows, -1)
        a[name] = (0.5 * h0 * theta2 + 0.5 * h1 * theta2).reshape(rows, -1)
    return s, a


def _lowest(values: torch.Tensor, fraction: float) -> torch.Tensor:
    """Boolean mask of the ⌈fraction·n⌉ smallest values (stable: ties broken by position)."""
    flat = values.flatten()
    k = min(flat.numel(), math.ceil(fraction * flat.numel() - 1e-9))
    mask = torch.zeros(flat.numel(), dtype=torch.bool)
    if k > 0:
        order = torch.argsort(flat, stable=True)
        mask[order[:k]] = True
    return mask.reshape(values.shape)


# Each F+A R reading (``methods.FA_RULES``): (fairness set, a, target) → the layer's F+A R weights, where the
# fairness set is the top x% of the fairness rank (most negative s).
FA_RULE_MASKS: dict[str, Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]] = {
    # minus the top x% of the accuracy rank: largest a
    "exclude": lambda fairness, a, target: fairness & ~_lowest(-a, target),
    # ∩ the bottom x% of the accuracy rank: smallest a
    "intersect": lambda fairness, a, target: fairness & _lowest(a, target),
}
assert set(FA_RULE_MASKS) == set(FA_RULES), "every F+A R rule needs its mask"


def fa_mask(s: torch.Tensor, a: torch.Tensor, target: float, rule: str = "exclude") -> torch.Tensor:
    """One layer's F+A R weights under ``rule`` (see ``methods.FA_RULES``)."""
    if rule not in FA_RULE_MASKS:
        raise UserError(f"unknown F+A R rule '{rule}'; choose one of {', '.join(FA_RULES)}")
    return FA_RULE_MASKS[rule](_lowest(s, target), a, target)


def _top_k(values: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of the k smallest values (stable: ties broken by position)."""
    mask = torch.zeros(values.numel(), dtype=torch.bool)
    if k > 0:
        mask[torch.argsort(values.flatten(), stable=True)[:k]] = True
    return mask.reshape(values.shape)


def _random(s: torch.Tensor, a: torch.Tensor, target: float, rule: str, rng: np.random.Generator) -> torch.Tensor:
    """F+A R's count in this layer, uniformly placed."""
    fa = fa_mask(s, a, target, rule)
    flat = torch.zeros(fa.numel(), dtype=torch.bool)
    flat[torch.as_tensor(rng.choice(fa.numel(), size=int(fa.sum()), replace=False))] = True
    return flat.reshape(s.shape)


# Each method's mask rule for one layer: (s, a, target, F+A R rule, rng) → targeted weights. A new
# method is one entry here and one in ``methods.METHOD_INFO``.
MaskRule = Callable[[torch.Tensor, torch.Tensor, float, str, np.random.Generator], torch.Tensor]
MASK_RULES: dict[str, MaskRule] = {
    "none": lambda s, a, target, rule, rng: torch.zeros(s.shape, dtype=torch.bool),
    "uniform": lambda s, a, target, rule, rng: torch.ones(s.shape, dtype=torch.bool),
    "FR": lambda s, a, target, rule, rng: _lowest(s, target),
    "F+A R": lambda s, a, target, rule, rng: fa_mask(s, a, target, rule),
    # F+A R's count in this layer, chosen by fairness alone
    "FR-matched": lambda s, a, target, rule, rng: _top_k(s, int(fa_mask(s, a, target, rule).sum())),
    "random": _random,
}
assert set(MASK_RULES) == set(METHOD_INFO), "every targeting method needs its mask rule"


def masks_from_saliency(s: dict[str, torch.Tensor], a: dict[str, torch.Tensor], method: str, target: float,
                        seed: int = 0, fa_rule: str = "exclude") -> Masks:
    """Masks for ``method`` at ``target`` (fraction in (0, 1]) from precomputed saliencies.

    ``method`` may name its F+A R rule ("F+A R [intersect]"); otherwise ``fa_rule`` applies to
    F+A R and to the controls built from its per-layer counts (``random``, ``FR-matched``).
    """
    label = MethodLabel.parse(method, fa_rule)
    if fa_rule not in FA_RULES:
        raise UserError(f"unknown F+A R rule '{fa_rule}'; choose one of {', '.join(FA_RULES)}")
    if not 0 < target <= 1:
        raise UserError(f"target must be a fraction in (0, 1] (0.05 = 5%), got {target}")
    rule, rng = MASK_RULES[label.base], np.random.default_rng(seed)
    return {name: rule(s[name], a[name], target, label.rule or fa_rule, rng) for name in s}


def masks(model: nn.Module, curv: dict[int, dict[str, torch.Tensor]], method: str = "F+A R",
          target: float = 0.05, beta: float = 1.0, seed: int = 0, *, fa_rule: str = "exclude") -> Masks:
    """Public entry point: curvature → saliency → per-layer masks (``fa_rule``: exclude or intersect)."""
    s, a = saliencies(model, curv, beta)
    return masks_from_saliency(s, a, method, target, seed, fa_rule=fa_rule)


def layer_fractions(m: Masks) -> dict[str, float]:
    """Fraction of each layer's weights that are targeted (paper Fig. 5)."""
    return {name: float(v.float().mean()) for name, v in m.items()}


def rank_pairs(s: torch.Tensor, a: torch.Tensor, max_points: int = 4000, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Normalised ranks (0 = most important) by fairness and by accuracy for one layer (Fig. 4).

    Importance: for fairness the most negative s first; for accuracy the largest a first.
    """
    fs = s.flatten().numpy()
    fa = a.flatten().numpy()
    r_s = np.empty(fs.size)
    r_s[np.argsort(fs, kind="stable")] = np.arange(fs.size)
    r_a = np.empty(fa.size)
    r_a[np.argsort(-fa, kind="stable")] = np.arange(fa.size)
    idx = np.arange(fs.size)
    if fs.size > max_points:
        idx = np.random.default_rng(seed).choice(fs.size, size=max_points, replace=False)
    return r_s[idx] / max(fs.size - 1, 1), r_a[idx] / max(fa.size - 1, 1)
