"""Per-group diagnostics from the hardware-selection paper (Nelaturu et al., "On The Fairness Impacts of
Hardware Selection in Machine Learning", ICML 2024): gradient norms and the top Hessian
eigenvalue of each group's loss (power iteration on reverse-over-reverse HVPs, no Hessian is
formed). Plain autograd rather than torch.func, so it runs on any device and tensor type."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def _share(model: nn.Module, x: torch.Tensor, y: torch.Tensor, total: int) -> torch.Tensor:
    """One batch's share of the group's mean loss: the shares of all batches sum to L_c."""
    return F.cross_entropy(model(x), y, reduction="sum") / total


def gradient_norm(model: nn.Module, batches: Batches) -> float:
    """‖∇θ L_c‖ of the group's mean loss over all parameters (model in eval mode)."""
    model.eval()
    params = list(model.parameters())
    total = sum(int(y.shape[0]) for _, y in batches)
    g = [torch.zeros_like(p) for p in params]
    for x, y in batches:
        for acc, part in zip(g, torch.autograd.grad(_share(model, x, y, total), params)):
            acc += part
    return float(torch.sqrt(sum((t**2).sum() for t in g)))


def top_hessian_eigenvalue(model: nn.Module, batches: Batches, iters: int = 50, tol: float = 1e-4,
                           seed: int = 0) -> float:
    """Largest-magnitude eigenvalue of the group loss's Hessian by power iteration on HVPs."""
    model.eval()
    params = list(model.parameters())
    total = sum(int(y.shape[0]) for _, y in batches)

    def hvp(v: list[torch.Tensor]) -> list[torch.Tensor]:
        # one batch's double-backward graph at a time: memory stays that of one batch at any sample count
        out = [torch.zeros_like(p) for p in params]
        for x, y in batches:
            g = torch.autograd.grad(_share(model, x, y, total), params, create_graph=True)
            for acc, part in zip(out, torch.autograd.grad(g, params, v)):
                acc += part
        return out

    gen = torch.Generator().manual_seed(seed)
    v = [torch.randn(p.shape, generator=gen).to(p) for p in params]
    norm = torch.sqrt(sum((t**2).sum() for t in v))
    v = [t / norm for t in v]
    eig = 0.0
    for _ in range(iters):
        hv = hvp(v)
        new = float(sum((a * b).sum() for a, b in zip(hv, v)))  # Rayleigh quotient
        norm = torch.sqrt(sum((t**2).sum() for t in hv))
        if norm == 0:
            return 0.0
        v = [t / norm for t in hv]
        if abs(new - eig) <= tol * max(abs(new), 1e-12):
            return new
        eig = new
    return eig


def group_diagnostics(model: nn.Module, batches_by_group: dict[int, Batches], iters: int = 30) -> dict[str, float]:
    """Gradient norm and top Hessian eigenvalue per group, flat keys for tables."""
    out = {}
    for c, batches in sorted(batches_by_group.items()):
        out[f"grad_norm_g{c}"] = gradient_norm(model, batches)
        out[f"hessian_top_eig_g{c}"] = top_hessian_eigenvalue(model, batches, iters=iters)
    return out
