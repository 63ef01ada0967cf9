"""Fine-tuning arms: VA-Retrain, VFA-Retrain (FairXbar §IV-D, Mugdho et al.), fairness-loss-only and the
boundary regulariser (Nelaturu et al., ICML 2024).

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
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F


from ..data.splits import Splits, TensorSplit, to_float
from ..errors import UserError
from ..hardware import Preset
from ..rng import derive_seed
from ..saliency import curvature, group_batches, masks_from_saliency, saliencies
from ..training.evaluate import metrics_from_logits, predict_logits
from ..training.steps import optimise
from .emulation import ChipEmulator
from .names import ARM_LABELS, FINETUNE_ARMS
from .objectives import boundary_loss, vfa_loss




@dataclass
class RetrainConfig:
    """What a retrained arm's model depends on (hashed into its checkpoint and row keys)."""

    steps: int = 150
    lr: float = 5e-4
    batch_size: int = 128
    refresh_every: int = 1
    method: str = "F+A R"
    target: float = 0.4
    alpha: float = 0.5
    lam: float = 0.1
    chip: str = "fresh"  # resolved: "fixed" (one chip, permanent faults) or "fresh" (a new chip each step)
    errors: str = "straight-through"  # or "persistent" (paper step 4 read literally)
    estimator: str = "hessian-exact"
    samples_per_group: int = 256
    probes: int = 8
    beta: float = 1.0
    hwa_noise: float = 0.05
    eval_every: int = 25  # steps between validation-chip evaluations (0: keep the last step)
    val_chips: int = 5
    patience: int = 3  # evaluations without a better checkpoint before stopping early
    max_f1_loss: float = 0.01  # the target: lowest val EOdds with at most this loss of pooled F1
    digital_layers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.refresh_every < 1:
            raise UserError("retrain.steps and retrain.refresh_every must be ≥ 1")
        if not 0 <= self.alpha <= 1:
            raise UserError(f"retrain.alpha must be in [0, 1], got {self.alpha}")
        if self.chip not in ("fresh", "fixed"):
            raise UserError(f"retrain.chip must be fresh or fixed, got {self.chip}")
        if self.errors not in ("straight-through", "persistent"):
            raise UserError(f"retrain.errors must be straight-through or persistent, got {self.errors}")


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



def validation_score(model: nn.Module, emulator: ChipEmulator, masks: dict[str, torch.Tensor] | None,
                     val: TensorSplit, num_classes: int, chips: list[int], device: str) -> tuple[float, float]:
    """Mean EOdds and mean pooled F1 (the paper's eq. 3) of the model on validation chips."""
    eodds, f1 = [], []
    for seed in chips:
        with emulator.perturbed(masks, seed):
            m = metrics_from_logits(predict_logits(model, val, device), val, num_classes)
        eodds.append(m["eodds"])
        f1.append(m["f1_micro"])
    return float(sum(eodds) / len(eodds)), float(sum(f1) / len(f1))


def finetune(model: nn.Module, splits: Splits, arm: str, cfg: RetrainConfig, preset: Preset | None,
             device: str = "cpu", seed: int = 0, progress: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Fine-tune a copy of ``model`` as one arm (paper §IV-D steps 1–5); returns the kept model and
    what happened: losses, the validation history and the step whose checkpoint was kept.

    Steps 1–3: group-separated mini-batches; every ``refresh_every`` steps the curvature, ranks
    and masks are recomputed on the current weights. Step 4 (VA/VFA only): the preset's errors on
    the targeted weights, drawn as Monte-Carlo chips are (``ChipEmulator``), either for the
    forward/backward only (``straight-through``) or written into the weights after each step
    (``persistent``); ``chip`` fixed = chip 0 throughout (permanent faults), fresh = chip k at
    step k. Step 5: every ``eval_every`` steps the model is scored on ``val_chips`` validation
    chips; the kept checkpoint has the lowest validation EOdds among those losing at most
    ``max_f1_loss`` of pooled F1 against the starting model, and training stops after
    ``patience`` evaluations without a better one. Every arm (``ft``, the control, too) is
    selected the same way, so arms differ only in their loss and their errors.
    """
    if arm not in FINETUNE_ARMS:
        raise UserError(f"unknown fine-tuning arm '{arm}'; choose one of {', '.join(FINETUNE_ARMS)}")
    errors = arm in ("va", "vfa")
    if preset is None and (errors or cfg.eval_every):
        raise UserError(f"arm {arm} needs a preset: its errors and validation chips come from one")
    model = copy.deepcopy(model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    emulator = ChipEmulator(model, preset, cfg.digital_layers, seed) if preset is not None else None
    train = splits.train
    gen = torch.Generator().manual_seed(derive_seed(seed, arm))
    idx_by_group = [torch.nonzero(train.groups == c).flatten() for c in (0, 1)]
    half = max(1, cfg.batch_size // 2)
    masks: dict[str, Any] = {}
    val_chips = [derive_seed(seed, "validation chip", k) for k in range(cfg.val_chips)]

    def current_masks(step: int) -> Any:
        model.eval()
        masks["now"] = refresh_masks(model, train, cfg, derive_seed(seed, arm, step), device)
        return masks["now"]

    def refresh(step: int) -> None:  # steps 2-3: curvature, ranks and masks from group-separated batches
        if errors and step % cfg.refresh_every == 0 and not (step == 0 and "now" in masks):
            current_masks(step)  # (step 0's masks may already exist: the starting score computed them)

    def draw(step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # step 1
        picks = torch.cat([ix[torch.randint(0, len(ix), (half,), generator=gen)] for ix in idx_by_group])
        return (to_float(train.images[picks]).to(device), train.labels[picks].to(device),
                train.groups[picks].to(device))

    def chip(step: int) -> int:
        return emulator.chip_seed(0 if cfg.chip == "fixed" else step)

    def chip_errors(step: int) -> Any:  # step 4, straight-through
        if not errors or cfg.errors != "straight-through":
            return contextlib.nullcontext()
        return emulator.perturbed(masks.get("now"), chip(step))

    def loss_of(batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y, g = batch
        logits = model(x)
        if arm in ("va", "ft"):
            return F.cross_entropy(logits, y)
        if arm == "boundary":
            return boundary_loss(logits, y, g, cfg.lam)
        return vfa_loss(logits, y, g, cfg.alpha)

    def score(step: int) -> tuple[float, float]:
        m = masks.get("now") if errors and "now" in masks else current_masks(step)
        return validation_score(model, emulator, m, splits.val, splits.num_classes, val_chips, device)

    state: dict[str, Any] = {"history": [], "best": None, "since_best": 0, "f1_reference": None}
    if cfg.eval_every:
        eo0, f1_0 = score(0)
        state["f1_reference"] = f1_0
        state["history"].append({"step": 0, "val_eodds": eo0, "val_f1_pooled": f1_0})

    def after(step: int) -> None:
        if errors and cfg.errors == "persistent":  # step 4 read literally: the errors stay in the weights
            emulator.persist(masks.get("now"), chip(step))
        done = step + 1
        if not cfg.eval_every or (done % cfg.eval_every and done != cfg.steps):
            return
        eo, f1 = score(done)
        state["history"].append({"step": done, "val_eodds": eo, "val_f1_pooled": f1})
        meets = f1 >= state["f1_reference"] - cfg.max_f1_loss
        if meets and (state["best"] is None or eo < state["best"][1]):
            state["best"] = (done, eo, {k: v.detach().clone() for k, v in model.state_dict().items()})
            state["since_best"] = 0
        else:
            state["since_best"] += 1

    def stop(step: int) -> bool:  # step 5: stop once the target has not improved for `patience` checks
        return bool(cfg.eval_every) and state["best"] is not None and state["since_best"] >= cfg.patience

    losses = optimise(model, opt, cfg.steps, draw, loss_of, before=refresh, around=chip_errors, after=after,
                      stop=stop, progress=progress, desc=f"retrain {ARM_LABELS[arm]}")
    kept = len(losses)
    if state["best"] is not None:
        kept = state["best"][0]
        model.load_state_dict(state["best"][2])
    model.eval()
    return model, {"loss_first": losses[0], "loss_last": losses[-1], "steps_run": len(losses), "kept_step": kept,
                   "target_met": state["best"] is not None or not cfg.eval_every,
                   "val_history": state["history"], "f1_reference": state["f1_reference"]}
