"""Per-group diagonal curvature of the mean cross-entropy (FairXbar §IV-A, Mugdho et al.: h_ii per group).

Estimators (docs/user-guide.md): ``hutchinson`` (reverse-over-reverse HVPs with Rademacher probes
z, Hutchinson's estimator, Commun. Stat. Simul. Comput. 1990, read on the diagonal: E[z ⊙ Hz] =
diag H; any model), ``hessian-exact`` / ``ggn-exact`` / ``ggn-mc`` (BackPACK, where its
extensions support the model) and ``fisher`` (mean squared per-sample gradients).
A BackPACK estimator that cannot handle a model falls back to Hutchinson with a warning.

The curvature of the mean loss over all of a group's samples is the sample-weighted sum of
the per-batch curvatures of batch-mean losses, so batches can be any size.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import UserError
from ..rng import curvature_seed, seeded_rng
from ..models import crossbar_layers, device_of
from .methods import ESTIMATORS
from . import conv_diagonal, exact_ggn

# False: every exact estimate through BackPACK (the reference the tests and benchmarks compare with)
FAST_EXACT = True

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
Curvature = dict[str, torch.Tensor]
_BACKPACK_ATTR = {"hessian-exact": "diag_h", "ggn-exact": "diag_ggn_exact", "ggn-mc": "diag_ggn_mc"}


class CurvatureFallback(UserWarning):
    """An exact estimator could not handle the model; Hutchinson was used instead."""


def weight_param_names(model: nn.Module) -> list[str]:
    """``<module>.weight`` of every conv/linear layer: the weights that sit on crossbars."""
    return [f"{n}.weight" for n in crossbar_layers(model)]


def _weighted_sum(per_batch: Callable[[torch.Tensor, torch.Tensor], Curvature], batches: Batches,
                  names: list[str]) -> Curvature:
    total: Curvature = {}
    count = 0
    for x, y in batches:
        h = per_batch(x, y)
        n = int(y.shape[0])
        for k in names:
            total[k] = total.get(k, 0) + h[k].detach() * n
        count += n
    if count == 0:
        raise UserError("curvature needs at least one sample per group")
    return {k: v / count for k, v in total.items()}


def _hutchinson(model: nn.Module, names: list[str], probes: int, seed: int
                ) -> Callable[[torch.Tensor, torch.Tensor], Curvature]:
    """diag(H) ≈ mean over Rademacher probes v of v ⊙ Hv.

    HVPs are reverse-over-reverse (one gradient graph per batch, reused by every probe): measured
    ~1.5× faster than torch.func forward-over-reverse here (benchmarks/bench_curvature.py).
    """
    params = dict(model.named_parameters())
    gen = torch.Generator().manual_seed(seed)

    def per_batch(x: torch.Tensor, y: torch.Tensor) -> Curvature:
        ws = [params[k] for k in names]
        grads = torch.autograd.grad(F.cross_entropy(model(x), y), ws, create_graph=True)
        est = [torch.zeros_like(w) for w in ws]
        for i in range(probes):
            v = [torch.randint(0, 2, w.shape, generator=gen).to(w) * 2 - 1 for w in ws]
            hv = torch.autograd.grad(grads, ws, v, retain_graph=i < probes - 1)
            for e, vi, hvi in zip(est, v, hv):
                e += vi * hvi
        return {k: e.detach() / probes for k, e in zip(names, est)}

    return per_batch


def _fisher(model: nn.Module, names: list[str], chunk: int = 32) -> Callable[[torch.Tensor, torch.Tensor], Curvature]:
    from torch.func import functional_call, grad, vmap

    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    fixed = {k: v.detach() for k, v in params.items() if k not in names}

    def sample_loss(wd: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, ({**fixed, **wd}, buffers), (x.unsqueeze(0),))
        return F.cross_entropy(out, y.unsqueeze(0))

    per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))

    def per_batch(x: torch.Tensor, y: torch.Tensor) -> Curvature:
        w = {k: params[k].detach() for k in names}
        acc = {k: torch.zeros_like(v) for k, v in w.items()}
        for i in range(0, x.shape[0], chunk):
            g = per_sample(w, x[i : i + chunk], y[i : i + chunk])
            for k in names:
                acc[k] += (g[k] ** 2).sum(0)
        return {k: a / x.shape[0] for k, a in acc.items()}

    return per_batch


def _backpack(model: nn.Module, names: list[str], estimator: str) -> Callable[[torch.Tensor, torch.Tensor], Curvature]:
    from backpack import backpack, extend

    ext = conv_diagonal.extensions()[estimator]  # BackPACK's, with the cheaper exact conv-weight rule
    sequential = isinstance(model, nn.Sequential)
    bp_model = extend(copy.deepcopy(model), use_converter=not sequential)
    bp_model.eval()
    lossfunc = extend(nn.CrossEntropyLoss())
    # Map our names to the (possibly converted) model's parameters by value identity of shapes/order.
    src = dict(model.named_parameters())
    dst = list(bp_model.parameters())
    order = [k for k, _ in model.named_parameters()]
    if len(dst) != len(order) or any(src[k].shape != p.shape for k, p in zip(order, dst)):
        raise RuntimeError("BackPACK's converted model does not mirror the original parameters")
    by_name = dict(zip(order, dst))
    attr = _BACKPACK_ATTR[estimator]

    def per_batch(x: torch.Tensor, y: torch.Tensor) -> Curvature:
        bp_model.zero_grad()
        loss = lossfunc(bp_model(x), y)
        with backpack(ext()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook")
            loss.backward()
        return {k: getattr(by_name[k], attr).detach().clone() for k in names}

    return per_batch


GroupBatches = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class CurvatureEstimator:
    """How an estimator computes one group's curvature: ``group(model, names, batches, probes, seed)``."""

    group: Callable[[nn.Module, list[str], GroupBatches, int, int], Curvature]
    may_fail: bool = False  # BackPACK's: a model it cannot handle raises, and ``curvature`` falls back to Hutchinson


def _hutchinson_group(model: nn.Module, names: list[str], batches: GroupBatches, probes: int, seed: int) -> Curvature:
    return _weighted_sum(_hutchinson(model, names, probes, seed), batches, names)


def _fisher_group(model: nn.Module, names: list[str], batches: GroupBatches, probes: int, seed: int) -> Curvature:
    return _weighted_sum(_fisher(model, names), batches, names)


def _backpack_group(estimator: str) -> CurvatureEstimator:
    def group(model: nn.Module, names: list[str], batches: GroupBatches, probes: int, seed: int) -> Curvature:
        if FAST_EXACT and exact_ggn.applies(model, names, estimator):  # the same diagonal, without BackPACK
            try:
                return _weighted_sum(exact_ggn.per_batch(model, names), batches, names)
            except exact_ggn.Unsupported:
                pass
        fn = _backpack(model, names, estimator)
        with seeded_rng(seed, device_of(model)):  # ggn-mc samples labels
            return _weighted_sum(fn, batches, names)

    return CurvatureEstimator(group, may_fail=True)


# Each estimator by the name ``saliency.estimator`` gives (``methods.ESTIMATORS``).
CURVATURE_ESTIMATORS: dict[str, CurvatureEstimator] = {
    "hutchinson": CurvatureEstimator(_hutchinson_group),
    "fisher": CurvatureEstimator(_fisher_group),
    **{name: _backpack_group(name) for name in _BACKPACK_ATTR},
}
assert set(CURVATURE_ESTIMATORS) == set(ESTIMATORS), "every curvature estimator needs its entry"


def curvature(
    model: nn.Module,
    batches_by_group: dict[int, GroupBatches],
    estimator: str = "hessian-exact",
    probes: int = 8,
    seed: int = 0,
) -> dict[int, Curvature]:
    """{group: {param_name: diag curvature}} of each group's mean CE loss (BN in eval mode)."""
    if estimator not in ESTIMATORS:
        raise UserError(f"unknown curvature estimator '{estimator}'; choose one of {', '.join(ESTIMATORS)}")
    if probes < 1:
        raise UserError(f"probes must be ≥ 1, got {probes}")
    was_training = model.training
    model.eval()
    names = weight_param_names(model)
    out: dict[int, Curvature] = {}
    try:
        for c, batches in sorted(batches_by_group.items()):
            group_seed = curvature_seed(seed, c)
            try:
                out[c] = CURVATURE_ESTIMATORS[estimator].group(model, names, batches, probes, group_seed)
            except Exception as exc:  # BackPACK raises many types for unsupported layers
                if not CURVATURE_ESTIMATORS[estimator].may_fail:
                    raise
                warnings.warn(
                    f"BackPACK cannot compute {estimator} for this model ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][:120]}); falling back to hutchinson with {probes} probes",
                    CurvatureFallback, stacklevel=2,
                )
                estimator = "hutchinson"  # for the remaining groups too
                out[c] = CURVATURE_ESTIMATORS[estimator].group(model, names, batches, probes, group_seed)
    finally:
        model.train(was_training)
    return out
