"""Per-group diagnostics from the hardware-selection paper: gradient norms and the top Hessian
eigenvalue of each group's loss (power iteration on torch.func HVPs, no Hessian is formed)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, jvp

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def _mean_loss_fn(model: nn.Module, batches: Batches):
    buffers = dict(model.named_buffers())
    total = sum(int(y.shape[0]) for _, y in batches)

    def loss(params: dict[str, torch.Tensor]) -> torch.Tensor:
        out = 0.0
        for x, y in batches:
            out = out + F.cross_entropy(functional_call(model, (params, buffers), (x,)), y, reduction="sum")
        return out / total

    return loss


def gradient_norm(model: nn.Module, batches: Batches) -> float:
    """‖∇θ L_c‖ of the group's mean loss over all parameters (model in eval mode)."""
    model.eval()
    params = {k: v.detach() for k, v in model.named_parameters()}
    g = grad(_mean_loss_fn(model, batches))(params)
    return float(torch.sqrt(sum((v**2).sum() for v in g.values())))


def top_hessian_eigenvalue(model: nn.Module, batches: Batches, iters: int = 50, tol: float = 1e-4,
                           seed: int = 0) -> float:
    """Largest-magnitude eigenvalue of the group loss's Hessian by power iteration on HVPs."""
    model.eval()
    params = {k: v.detach() for k, v in model.named_parameters()}
    grad_fn = grad(_mean_loss_fn(model, batches))
    gen = torch.Generator().manual_seed(seed)
    v = {k: torch.randn(p.shape, generator=gen).to(p) for k, p in params.items()}
    norm = torch.sqrt(sum((t**2).sum() for t in v.values()))
    v = {k: t / norm for k, t in v.items()}
    eig = 0.0
    for _ in range(iters):
        _, hv = jvp(grad_fn, (params,), (v,))
        new = float(sum((hv[k] * v[k]).sum() for k in v))  # Rayleigh quotient
        norm = torch.sqrt(sum((t**2).sum() for t in hv.values()))
        if norm == 0:
            return 0.0
        v = {k: t / norm for k, t in hv.items()}
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
