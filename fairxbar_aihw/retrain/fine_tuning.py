"""Fine-tuning arms: VA-Retrain, VFA-Retrain (paper §IV-D), fairness-loss-only and the boundary
regulariser.

Each step (paper steps 1–5): draw group-separated mini-batches (half from each group); every
R steps refresh curvature, saliency ranks and masks on the current weights; forward/backward
with the preset's errors emulated on the targeted weights (VA/VFA only), and apply the
gradient to the clean weights (straight-through), so errors shape training without
accumulating in the stored weights. ``chip: fixed`` reuses one chip's error pattern every
step; ``fresh`` samples a new chip each step.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F


from ..data.splits import Splits, TensorSplit, to_float
from ..errors import UserError
from ..models import crossbar_layers
from ..hardware import Preset, make_noise_model, seeded_rng
from ..rng import derive_seed
from ..saliency import curvature, group_batches, masks_from_saliency, saliencies
from ..training.steps import optimise
from .names import ARM_LABELS, FINETUNE_ARMS
from .objectives import boundary_loss, vfa_loss



@dataclass
class RetrainConfig:
    steps: int = 150
    lr: float = 5e-4
    batch_size: int = 128
    refresh_every: int = 50
    method: str = "F+A R"
    target: float = 0.4
    alpha: float = 0.5
    lam: float = 0.1
    chip: str = "fresh"
    estimator: str = "hessian-exact"
    samples_per_group: int = 256
    probes: int = 8
    beta: float = 1.0
    hwa_noise: float = 0.05
    digital_layers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.refresh_every < 1:
            raise UserError("retrain.steps and retrain.refresh_every must be ≥ 1")
        if not 0 <= self.alpha <= 1:
            raise UserError(f"retrain.alpha must be in [0, 1], got {self.alpha}")
        if self.chip not in ("fresh", "fixed"):
            raise UserError(f"retrain.chip must be fresh or fixed, got {self.chip}")


class ErrorEmulator:
    """Software emulation of a preset's programming errors on the targeted weights of a model."""

    def __init__(self, model: nn.Module, preset: Preset, digital_layers: list[str] | None = None):
        self.layers = {n: m for n, m in crossbar_layers(model).items() if n not in set(digital_layers or [])}
        self.noise = make_noise_model(preset)

    @contextlib.contextmanager
    def perturbed(self, masks: dict[str, torch.Tensor] | None, seed: int) -> Iterator[None]:
        """Inside the block the targeted weights carry one chip's errors; clean weights come back after."""
        if self.noise is None:
            yield
            return
        saved = {}
        with torch.no_grad(), seeded_rng(seed):  # the noise is drawn on the CPU
            for name, layer in self.layers.items():
                w = layer.weight
                flat = w.detach().reshape(w.shape[0], -1)
                noisy, _ = self.noise.apply_programming_noise(flat.cpu())
                mask = torch.ones_like(flat, dtype=torch.bool) if masks is None else masks[name].to(w.device)
                saved[name] = w.detach().clone()
                w.copy_(torch.where(mask, noisy.to(w.device), flat).reshape(w.shape))
        try:
            yield
        finally:
            with torch.no_grad():
                for name, layer in self.layers.items():
                    layer.weight.copy_(saved[name])


def refresh_masks(model: nn.Module, split: TensorSplit, cfg: RetrainConfig, seed: int, device: str
                  ) -> dict[str, torch.Tensor] | None:
    """Paper steps 2–3: per-group curvature → saliency ranks → masks on the current weights."""
    if cfg.method == "uniform":
        return None
    batches = group_batches(split, cfg.samples_per_group, 64, seed, device)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        curv = curvature(model, batches, cfg.estimator, probes=cfg.probes, seed=seed)
    s, a = saliencies(model, curv, cfg.beta)
    return masks_from_saliency(s, a, cfg.method, cfg.target, seed=seed)


def finetune(model: nn.Module, splits: Splits, arm: str, cfg: RetrainConfig, preset: Preset | None,
             device: str = "cpu", seed: int = 0, progress: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Fine-tune a copy of ``model`` as one arm; returns it with its final masks' sizes and loss history."""
    if arm not in FINETUNE_ARMS:
        raise UserError(f"unknown fine-tuning arm '{arm}'; choose one of {', '.join(FINETUNE_ARMS)}")
    errors = arm in ("va", "vfa")
    if errors and preset is None:
        raise UserError(f"arm {arm} needs a preset whose errors it emulates")
    model = copy.deepcopy(model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    emulator = ErrorEmulator(model, preset, cfg.digital_layers) if errors else None
    train = splits.train
    gen = torch.Generator().manual_seed(derive_seed(seed, arm))
    idx_by_group = [torch.nonzero(train.groups == c).flatten() for c in (0, 1)]
    half = max(1, cfg.batch_size // 2)
    masks: dict[str, Any] = {}

    def refresh(step: int) -> None:  # curvature, ranks and masks from group-separated batches
        if errors and step % cfg.refresh_every == 0:
            model.eval()
            masks["now"] = refresh_masks(model, train, cfg, derive_seed(seed, arm, step), device)

    def draw(step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        picks = torch.cat([ix[torch.randint(0, len(ix), (half,), generator=gen)] for ix in idx_by_group])
        return (to_float(train.images[picks]).to(device), train.labels[picks].to(device),
                train.groups[picks].to(device))

    def chip_errors(step: int) -> Any:  # the emulated chip's errors on the targeted weights
        if emulator is None:
            return contextlib.nullcontext()
        chip = derive_seed(seed, arm, "chip") if cfg.chip == "fixed" else derive_seed(seed, arm, "chip", step)
        return emulator.perturbed(masks.get("now"), chip)

    def loss_of(batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y, g = batch
        logits = model(x)
        if arm == "va":
            return F.cross_entropy(logits, y)
        if arm == "boundary":
            return boundary_loss(logits, y, g, cfg.lam)
        return vfa_loss(logits, y, g, cfg.alpha)

    history = optimise(model, opt, cfg.steps, draw, loss_of, before=refresh, around=chip_errors,
                       progress=progress, desc=f"retrain {ARM_LABELS[arm]}")
    model.eval()
    return model, {"loss_first": history[0], "loss_last": history[-1], "steps": cfg.steps}
