"""Training objectives of the mitigation arms.

- VFA (FairXbar eq. 11, Mugdho et al.): (1 − α)·L_{c=0,1} + α·|L_{c=0} − L_{c=1}|
- Boundary (the hardware-selection paper: Nelaturu, Ravichandran, Tran, Hooker and Fioretto, "On The
  Fairness Impacts of Hardware Selection in Machine Learning", ICML 2024): L + λ·|d̄_0 − d̄_1|, d̄_c the mean distance of group c's
  samples to the decision boundary, measured by the logit margin z_y − max_{k≠y} z_k (a
  Hessian-free proxy, as that paper's mitigation asks for).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .config import RetrainSection


def group_losses(logits: torch.Tensor, y: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean CE of the unprivileged (0) and privileged (1) samples of a batch (0 if a group is absent)."""
    per = F.cross_entropy(logits, y, reduction="none")
    out = []
    for c in (0, 1):
        m = g == c
        out.append(per[m].mean() if m.any() else per.sum() * 0.0)
    return out[0], out[1]


def vfa_loss(logits: torch.Tensor, y: torch.Tensor, g: torch.Tensor, alpha: float) -> torch.Tensor:
    """Paper eq. 11."""
    l0, l1 = group_losses(logits, y, g)
    return (1 - alpha) * F.cross_entropy(logits, y) + alpha * (l0 - l1).abs()


def logit_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """z_y − max_{k≠y} z_k per sample: positive = correct side of the decision boundary."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.scatter(1, y[:, None], float("-inf")).max(dim=1).values
    return true - other


def boundary_loss(logits: torch.Tensor, y: torch.Tensor, g: torch.Tensor, lam: float) -> torch.Tensor:
    """CE plus λ·|mean margin of group 0 − mean margin of group 1|."""
    margin = logit_margin(logits, y)
    means = [margin[g == c].mean() if (g == c).any() else margin.sum() * 0.0 for c in (0, 1)]
    return F.cross_entropy(logits, y) + lam * (means[0] - means[1]).abs()


ArmLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, RetrainSection], torch.Tensor]

# Each arm's training objective, by the name its registry entry gives (``arm_registry.ArmInfo.loss``):
# (logits, labels, groups, the retrain section) → loss.
ARM_LOSSES: dict[str, ArmLoss] = {
    "ce": lambda logits, y, g, rt: F.cross_entropy(logits, y),
    "vfa": lambda logits, y, g, rt: vfa_loss(logits, y, g, rt.alpha),
    "boundary": lambda logits, y, g, rt: boundary_loss(logits, y, g, rt.lam),
}
