"""Pruning arms (stuck-at-zero on chosen weights): global magnitude pruning, as in the pruning study
(Sinha and Groover, "Exploring Bias and Fairness in Resource-Efficient Neural Networks: A Comparative
Study", 2023), and FairPrune (Wu, Zeng, Xu, Shi and Hu, arXiv:2203.02110, 2022).

Magnitude: the k = round(sparsity·N) smallest |θ| over all conv/linear weights are zeroed
(exactly k, ties broken by position). FairPrune: per layer, the ⌈sparsity·n⌉ weights with
the most negative fairness saliency s (important to the privileged group, not the
unprivileged one) are zeroed. Optional fine-tuning keeps pruned weights at zero.
"""
from __future__ import annotations

import copy
import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F


from ..data.splits import Splits, to_float
from ..errors import UserError
from ..models import crossbar_layers
from ..saliency import saliencies
from ..training.steps import optimise

from .arm_registry import PRUNE_KINDS

Curvature = dict[int, dict[str, torch.Tensor]]


def _check(sparsity: float) -> None:
    if not 0 <= sparsity < 1:
        raise UserError(f"sparsity must be in [0, 1), got {sparsity}")


def magnitude_prune_masks(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    """{module: bool mask of pruned weights}, global over layers, exactly round(s·N) pruned."""
    _check(sparsity)
    layers = crossbar_layers(model)
    flat = torch.cat([m.weight.detach().abs().flatten().cpu() for m in layers.values()])
    k = int(round(sparsity * flat.numel()))
    pruned = torch.zeros(flat.numel(), dtype=torch.bool)
    if k:
        pruned[torch.argsort(flat, stable=True)[:k]] = True
    out, start = {}, 0
    for name, m in layers.items():
        n = m.weight.numel()
        out[name] = pruned[start : start + n].reshape(m.weight.shape)
        start += n
    return out


def fairprune_masks(model: nn.Module, curv: dict[int, dict[str, torch.Tensor]], sparsity: float,
                    beta: float = 1.0) -> dict[str, torch.Tensor]:
    """Per layer, the ⌈s·n⌉ weights with the most negative fairness saliency."""
    _check(sparsity)
    s, _ = saliencies(model, curv, beta)
    out = {}
    for name, m in crossbar_layers(model).items():
        flat = s[name].flatten()
        k = math.ceil(sparsity * flat.numel() - 1e-9)
        pruned = torch.zeros(flat.numel(), dtype=torch.bool)
        if k:
            pruned[torch.argsort(flat, stable=True)[:k]] = True
        out[name] = pruned.reshape(m.weight.shape)
    return out


# Each pruning kind's mask builder: (model, sparsity, curvature on demand, FairPrune's β) → pruned
# weights. The curvature is a callable so that kinds that need none never compute it.
MaskBuilder = Callable[[nn.Module, float, Callable[[], Curvature], float], dict[str, torch.Tensor]]
MASK_BUILDERS: dict[str, MaskBuilder] = {
    "magnitude": lambda model, sparsity, curv, beta: magnitude_prune_masks(model, sparsity),
    "fairprune": lambda model, sparsity, curv, beta: fairprune_masks(model, curv(), sparsity, beta),
}
assert set(MASK_BUILDERS) == set(PRUNE_KINDS), "every pruning kind needs its mask builder"


@torch.no_grad()
def apply_pruning(model: nn.Module, pruned: dict[str, torch.Tensor]) -> nn.Module:
    """Zero the pruned weights in place (stuck at zero)."""
    for name, m in crossbar_layers(model).items():
        m.weight[pruned[name].to(m.weight.device)] = 0.0
    return model


def prune_and_finetune(model: nn.Module, pruned: dict[str, torch.Tensor], splits: Splits, steps: int, lr: float,
                       batch_size: int = 128, device: str = "cpu", seed: int = 0, progress: bool = True
                       ) -> nn.Module:
    """A pruned copy of ``model``, fine-tuned for ``steps`` with the pruned weights held at zero."""
    model = apply_pruning(copy.deepcopy(model).to(device), pruned)
    if steps <= 0:
        return model.eval()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    train = splits.train

    def draw(step: int) -> torch.Tensor:
        return torch.randint(0, len(train), (batch_size,), generator=gen)

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(to_float(train.images[idx]).to(device)), train.labels[idx].to(device))

    optimise(model, opt, steps, draw, loss_of, after=lambda step: apply_pruning(model, pruned), progress=progress,
             desc="fine-tune pruned")
    return model.eval()
