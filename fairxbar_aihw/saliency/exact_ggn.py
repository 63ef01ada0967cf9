"""The exact diagonal GGN of the crossbar weights by plain autograd: one forward, one backward per class but one.

Why not only BackPACK: BackPACK backpropagates the loss Hessian's square root as a matrix through
every module (max-pools re-run for their indices, transposed convolutions per column) and, for
each estimate, deep-copies and extends the model. The GGN only needs, per crossbar layer, its
input and the gradient of each square-root column with respect to its output (Dangel, Kunstner &
Hennig, ICLR 2020): autograd gives those with one backward pass per column of the loss Hessian's
square root (V − 1 of them, ``loss_hessian_root``) that computes no weight gradients, and
``conv_diagonal`` turns them into the diagonal. Measured on one core
(docs/benchmarks.md): 1.2–1.5× faster than BackPACK on the demo's CNN, 1.2× on ResNet-18 beyond
``conv_diagonal``'s rule. It also takes torchvision's plain VGG-11,
whose in-place ReLUs BackPACK refuses (the estimate then fell back to Hutchinson).

The diagonal Hessian equals the GGN wherever the network is piecewise linear between its
weights (ReLU, max-pool, batch norm in eval mode): the residual term of the Hessian vanishes
there. ``hessian-exact`` takes this path only for an ``nn.Sequential`` made of such modules
(its forward is exactly the composition, so nothing functional hides a curved activation); any
other model goes to BackPACK. Numbers agree with BackPACK's to float rounding (~1e-6 relative).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from . import conv_diagonal

Curvature = dict[str, Tensor]

# modules whose output is piecewise linear in their input (zero second derivative almost everywhere)
PIECEWISE_LINEAR = (nn.Conv2d, nn.Linear, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten,
                    nn.Dropout, nn.Identity, nn.BatchNorm2d, nn.BatchNorm1d)


class Unsupported(RuntimeError):
    """The model does something this path does not cover (a layer used twice, a linear layer on a
    sequence): the estimate goes to BackPACK instead."""


def _hookable(module: nn.Module) -> bool:
    if isinstance(module, nn.Conv2d):
        return module.padding_mode == "zeros" and isinstance(module.padding, tuple)
    return type(module) is nn.Linear


def applies(model: nn.Module, names: list[str], estimator: str) -> bool:
    """Whether this path computes ``estimator`` exactly for ``model``'s crossbar weights ``names``."""
    if isinstance(model, torch.jit.ScriptModule):
        return False
    modules = dict(model.named_modules())
    if not all(_hookable(modules.get(n.removesuffix(".weight"))) for n in names):  # type: ignore[arg-type]
        return False
    if estimator == "ggn-exact":
        return True
    if estimator == "hessian-exact":
        return isinstance(model, nn.Sequential) and all(
            isinstance(m, PIECEWISE_LINEAR) for m in model.children())
    return False


def _complement_of_ones(v: int) -> Tensor:
    """An orthonormal basis (V, V − 1) of the vectors whose entries sum to zero (float64)."""
    first = torch.cat([torch.ones(v, 1, dtype=torch.float64), torch.eye(v, dtype=torch.float64)[:, : v - 1]], 1)
    q, _ = torch.linalg.qr(first)
    return q[:, 1:]


def loss_hessian_root(p: Tensor) -> Tensor:
    """Per sample, a (V, V − 1) factor S with S Sᵀ = diag(p) − p pᵀ, the cross-entropy's Hessian in
    the logits (``p``: softmax probabilities, (N, V)); returns (N, V, V − 1).

    Why V − 1 columns: that Hessian maps the all-ones vector to zero (shifting every logit leaves the
    softmax unchanged), so its rank is at most V − 1, and each column of the factor costs one backward
    pass and one contraction per layer. The V-column root ``√p_c (e_c − p)`` (BackPACK's) spends a
    quarter of a 4-class model's passes on that null direction. Here the Hessian is reduced to an
    orthonormal basis U of the sum-zero vectors, R = Uᵀ H U = Q Λ Qᵀ, and S = U Q Λ^½: exact, as
    H = U R Uᵀ (float64, then the logits' dtype)."""
    v = p.shape[1]
    p64 = p.double()
    h = torch.diag_embed(p64) - p64[:, :, None] * p64[:, None, :]
    basis = _complement_of_ones(v).to(p.device)
    lam, q = torch.linalg.eigh(basis.T @ h @ basis)
    return (basis @ (q * lam.clamp_min(0).sqrt()[:, None, :])).to(p.dtype)


def per_batch(model: nn.Module, names: list[str]) -> Callable[[Tensor, Tensor], Curvature]:
    """The diagonal GGN of one batch's mean cross-entropy for each weight in ``names``."""
    layers = {n: dict(model.named_modules())[n.removesuffix(".weight")] for n in names}
    # an in-place op after a layer (torchvision's ReLU(inplace=True), or one in a forward() we cannot
    # see) would edit the output we differentiate by: the layers hand a copy onward instead, except in
    # an nn.Sequential without in-place modules, whose forward is exactly its modules
    copy = not isinstance(model, nn.Sequential) or any(getattr(m, "inplace", False) for m in model.modules())

    def run(x: Tensor, y: Tensor) -> Curvature:
        seen: dict[str, tuple[Tensor, Tensor]] = {}

        def keep(name: str) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], Tensor]:
            def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor | None:
                if name in seen:
                    raise Unsupported(f"{name} runs twice in one forward pass")
                if isinstance(module, nn.Linear) and inputs[0].dim() != 2:
                    raise Unsupported(f"{name} sees a {inputs[0].dim()}-d input")
                seen[name] = (inputs[0].detach(), output)
                return output.clone() if copy else output
            return hook

        handles = [layer.register_forward_hook(keep(n)) for n, layer in layers.items()]
        try:
            with torch.enable_grad():
                logits = model(x)
        finally:
            for h in handles:
                h.remove()
        outputs = [seen[n][1] for n in names]
        root = loss_hessian_root(torch.softmax(logits.detach(), 1)) / math.sqrt(x.shape[0])
        columns: list[list[Tensor]] = []
        for c in range(root.shape[2]):
            last = c == root.shape[2] - 1
            columns.append(list(torch.autograd.grad(logits, outputs, root[:, :, c], retain_graph=not last)))
        out: Curvature = {}
        for i, name in enumerate(names):
            layer, inp = layers[name], seen[name][0]
            if isinstance(layer, nn.Conv2d) and conv_diagonal.uses_grouped_conv(
                    layer, columns[0][i][0, 0].numel(), len(columns)):
                sample_major = torch.stack([col[i] for col in columns], 1)  # (N, V, M, H', W')
                out[name] = conv_diagonal.grouped_conv_weight_diagonal(layer, inp, sample_major)
                continue
            delta = torch.stack([col[i] for col in columns])  # (V, N, M, ...)
            if isinstance(layer, nn.Conv2d):
                unfolded = F.unfold(inp, layer.kernel_size, layer.dilation, layer.padding, layer.stride)
                out[name] = conv_diagonal.conv_weight_diagonal(layer, unfolded, delta.flatten(3))
            else:
                out[name] = conv_diagonal.weight_diagonal(inp[:, :, None], delta[..., None])
        return out

    return run
