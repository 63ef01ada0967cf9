"""The exact curvature diagonal of a convolution's weight, by the cheaper of two exact contractions.

Why: BackPACK extracts a conv weight's diagonal (GGN or Hessian) as ``Σ_{v,n} (Σ_l X[n,k,l]
S[v,n,m,l])²``, forming every per-sample, per-column gradient first (``V·N·M·K`` numbers, a
batched product whose inner size is the ``P`` output positions). Late layers of ResNet-18 or
VGG-11 at small inputs have few positions and millions of weights, so that product is bound by
memory: 86% of ResNet-18's exact GGN at 16 px went there (cProfile, issue 33). Expanding the
square gives the same sum as one matrix product with a long inner dimension,

    Σ_{n,l,j} A[m,n,l,j] · B[n,l,j,k],  A = Σ_v S[v,n,m,l] S[v,n,m,j],  B = X[n,k,l] X[n,k,j],

which costs ``N·M·K·P²`` multiply-adds instead of ``V·N·M·K·P`` written numbers: far cheaper
while ``P`` is small beside the ``V`` backpropagated columns (measured on one core: 20× at
P = 4, V = 4; 30× slower at P = 64), so each layer takes whichever is cheaper. Where positions
are many and channels few (the first layers), the autograd path (``exact_ggn``) computes the
per-sample gradients as one convolution with a group per sample instead, which writes no unfolded
input (``grouped_conv_weight_diagonal``). Both are exact;
they differ from BackPACK only in the order of float additions (relative difference ~1e-6), and
layers small enough to take BackPACK's own contraction in one piece give its numbers exactly.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

# per-sample cost per written number / expanded-square cost per multiply-add, measured on one core
_WRITE_OVER_MAC = 20.0
# per-sample products up to this many numbers are formed at once, as BackPACK does (so small
# models, the demo's CNN among them, get BackPACK's numbers bit for bit); larger ones in chunks
# of samples and output rows that stay in cache (3× faster at ResNet-18's layer3: 151 M numbers
# in 2 M pieces)
_WHOLE_FLOATS = 8 * 2**20
_CHUNK_FLOATS = 2 * 2**20
# samples per chunk of the expanded square, so that B (n·P²·K floats) stays under ~128 MB
_SQUARE_FLOATS = 32 * 2**20
# the per-sample gradients as one grouped convolution (a group per sample) beat unfold + the
# per-sample product while in_channels × out_channels ≤ this × P (one core, batches of 64, 3
# columns: 1.4–4× faster at C·M / P from 0.05 to 32, 1.2–1.3× at 64, 1.2–3.7× slower from 128 on)
_GROUPED_PER_POSITION = 32


def uses_expanded_square(positions: int, columns: int) -> bool:
    """Whether the expanded square is the cheaper contraction for this layer's shape."""
    return positions * positions <= _WRITE_OVER_MAC * columns


def weight_diagonal(unfolded: Tensor, sqrt_factor: Tensor) -> Tensor:
    """``Σ_{v,n} (Σ_l X[n,k,l] S[v,n,m,l])²`` as an (M, K) tensor.

    ``unfolded``: the layer's unfolded input (N, K, P); ``sqrt_factor``: the backpropagated
    symmetric factor of the loss curvature at the layer's output, (V, N, M, P) (one group)."""
    v, n, m, p = sqrt_factor.shape
    k = unfolded.shape[1]
    if uses_expanded_square(p, v):
        out = unfolded.new_zeros(m, k)
        step = max(1, _SQUARE_FLOATS // max(1, p * p * max(k, m)))
        for i in range(0, n, step):
            s, x = sqrt_factor[:, i : i + step], unfolded[i : i + step]
            a = torch.einsum("vnml,vnmj->mnlj", s, s).reshape(m, -1)
            b = torch.einsum("nkl,nkj->nljk", x, x).reshape(-1, k)
            out.addmm_(a, b)
        return out
    if v * n * m * k <= _WHOLE_FLOATS:
        return torch.einsum("nkl,vnml->vnmk", unfolded, sqrt_factor).pow_(2).sum((0, 1))
    out = unfolded.new_zeros(m, k)
    rows = max(1, min(m, _CHUNK_FLOATS // (v * k)))  # output rows per piece: a wide layer's one sample
    step = max(1, _CHUNK_FLOATS // (v * rows * k))  # exceeds the piece on its own (VGG-11's 512 × 4608: 4.3×)
    for r in range(0, m, rows):
        for i in range(0, n, step):
            part = torch.einsum("nkl,vnml->vnmk", unfolded[i : i + step], sqrt_factor[:, i : i + step, r : r + rows])
            out[r : r + rows] += part.pow_(2).sum((0, 1))
    return out


def uses_grouped_conv(module: torch.nn.Conv2d, positions: int, columns: int) -> bool:
    """Whether the per-sample gradients are cheapest as one grouped convolution for this layer
    (an ungrouped layer whose positions are many beside its channels)."""
    return (module.groups == 1 and not uses_expanded_square(positions, columns)
            and module.in_channels * module.out_channels <= _GROUPED_PER_POSITION * positions)


def grouped_conv_weight_diagonal(module: torch.nn.Conv2d, inputs: Tensor, sqrt_factor: Tensor) -> Tensor:
    """``Σ_{n,v} (per-sample weight gradient)²`` of an ungrouped Conv2d in the weight's shape, the
    gradients of a chunk of samples computed as one convolution with a group per sample (so
    neither the unfolded input nor a batched product is written).

    ``inputs``: the layer's input (N, C, H, W); ``sqrt_factor``: the backpropagated columns at its
    output, sample-major (N, V, M, H', W')."""
    n, v, m = sqrt_factor.shape[:3]
    c = inputs.shape[1]
    size = module.weight.shape[2:]
    out = inputs.new_zeros(module.weight.shape)
    step = max(1, _WHOLE_FLOATS // max(1, v * m * c * size.numel()))
    for i in range(0, n, step):
        x, s = inputs[i : i + step], sqrt_factor[i : i + step]
        b = x.shape[0]
        grads = torch.nn.grad.conv2d_weight(x.reshape(1, b * c, *x.shape[2:]), (b * v * m, c, *size),
                                            s.reshape(1, b * v * m, *s.shape[3:]), module.stride, module.padding,
                                            module.dilation, b)
        out += grads.reshape(b * v, m, c, *size).square_().sum(0)
    return out


def conv_weight_diagonal(module: torch.nn.Conv2d, unfolded: Tensor, sqrt_factor: Tensor) -> Tensor:
    """The weight diagonal of a (possibly grouped) Conv2d in the weight's own shape."""
    g = module.groups
    v, n = sqrt_factor.shape[:2]
    s = sqrt_factor.reshape(v, n, g, module.out_channels // g, -1)
    x = unfolded.reshape(n, g, unfolded.shape[1] // g, -1)
    parts = [weight_diagonal(x[:, i], s[:, :, i]) for i in range(g)]
    return torch.cat(parts, 0).reshape(module.weight.shape)


def extensions() -> dict[str, Callable[[], object]]:
    """BackPACK's exact-curvature extensions by estimator name, their Conv2d weight rule replaced."""
    from backpack.extensions import DiagGGNExact, DiagGGNMC, DiagHessian
    from backpack.extensions.secondorder.diag_ggn.conv2d import DiagGGNConv2d
    from backpack.extensions.secondorder.diag_hessian.conv2d import DiagHConv2d
    from backpack.utils.conv import unfold_input

    class GGNConv2d(DiagGGNConv2d):
        def weight(self, ext, module, grad_inp, grad_out, backproped):
            return conv_weight_diagonal(module, unfold_input(module, module.input0), backproped)

    class HessianConv2d(DiagHConv2d):
        def weight(self, ext, module, g_inp, g_out, backproped):
            x = unfold_input(module, module.input0)
            out = torch.zeros_like(module.weight)
            for factor, sign in zip(backproped["matrices"], backproped["signs"]):
                out.add_(conv_weight_diagonal(module, x, factor), alpha=sign)
            return out

    def build(base: type, rule: type) -> Callable[[], object]:
        def make() -> object:
            ext = base()
            ext.set_module_extension(torch.nn.Conv2d, rule(), overwrite=True)
            return ext
        return make

    return {"ggn-exact": build(DiagGGNExact, GGNConv2d), "ggn-mc": build(DiagGGNMC, GGNConv2d),
            "hessian-exact": build(DiagHessian, HessianConv2d)}
