"""Per-group diagnostics from the hardware-selection paper: gradient norms and the top Hessian
eigenvalue of each group's loss (power iteration on reverse-over-reverse HVPs, no Hessian is
formed). Plain autograd rather than torch.func, so it runs on any device and tensor type."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def _group_grads(model: nn.Module, batches: Batches, create_graph: bool) -> list[tuple[torch.Tensor, ...]]:
    """Per-batch gradients of each batch's share of the group's mean loss (they sum to ∇L_c)."""
    model.eval()
    params = list(model.parameters())
    total = sum(int(y.shape[0]) for _, y in batches)
    return [torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum") / total, params,
                                create_graph=create_graph) for x, y in batches]


def gradient_norm(model: nn.Module, batches: Batches) -> float:
    """‖∇θ L_c‖ of the group's mean loss over all parameters (model in eval mode)."""
    per_batch = _group_grads(model, batches, create_graph=False)
    g = [sum(parts) for parts in zip(*per_batch)]
    return float(torch.sqrt(sum((t**2).sum() for t in g)))


def top_hessian_eigenvalue(model: nn.Module, batches: Batches, iters: int = 50, tol: float = 1e-4,
                           seed: int = 0) -> float:
    """Largest-magnitude eigenvalue of the group loss's Hessian by power iteration on HVPs."""
    params = list(model.parameters())
    per_batch = _group_grads(model, batches, create_graph=True)  # built once, reused by every HVP
    gen = torch.Generator().manual_seed(seed)
    v = [torch.randn(p.shape, generator=gen).to(p) for p in params]
    norm = torch.sqrt(sum((t**2).sum() for t in v))
    v = [t / norm for t in v]
    eig = 0.0
    for _ in range(iters):
        hv = [sum(parts) for parts in zip(*(torch.autograd.grad(g, params, v, retain_graph=True)
                                           for g in per_batch))]
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
