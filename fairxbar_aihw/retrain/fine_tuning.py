"""Fine-tuning arms: VA-Retrain, VFA-Retrain (FairXbar §IV-D, Mugdho et al.), fairness-loss-only, the
boundary regulariser (Nelaturu et al., ICML 2024) and the plain control; what tells them apart is their
registry entry (``arm_registry.ARMS``: the loss, and whether they train under the chip's errors).

Each step (paper steps 1–5): draw group-separated mini-batches (half from each group); every
R steps refresh curvature, saliency ranks and masks on the current weights; forward/backward
with the preset's errors emulated on the targeted weights (arms with ``chip_errors``), and apply
the gradient to the clean weights (straight-through), so errors shape training without
accumulating in the stored weights. ``chip: fixed`` reuses one chip's error pattern every
step; ``fresh`` samples a new chip each step.
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from typing import Any, ContextManager, NamedTuple

import torch
import torch.nn as nn

from ..data.splits import Splits, TensorSplit, to_float
from ..errors import UserError
from ..hardware import Preset
from ..models import Masks
from ..rng import arm_batch_seed, arm_refresh_seed, validation_chip_seed
from ..saliency import CurvatureFallback, curvature, group_batches, masks_from_saliency, saliencies
from ..saliency.methods import MethodLabel
from ..training.evaluation import metrics_from_logits, predict_logits
from ..training.steps import optimise
from .config import ArmSettings
from .emulation import ChipEmulator
from .arm_registry import ARM_LABELS, ARMS, FINETUNE_ARMS
from .objectives import ARM_LOSSES


class Refreshed(NamedTuple):
    """Masks on the current weights, and why the curvature fell back to Hutchinson (None: it did not)."""

    masks: Masks | None
    fallback: str | None


def refresh_masks(model: nn.Module, split: TensorSplit, settings: ArmSettings, seed: int, device: str) -> Refreshed:
    """Paper steps 2–3: per-group curvature → saliency ranks → masks on the current weights.

    An exact estimator BackPACK cannot apply to the model falls back to Hutchinson; the fallback
    is returned (and recorded in the arm's info), not printed at every refresh."""
    if not MethodLabel.split(settings.method).needs_masks:
        return Refreshed(None, None)
    batches = group_batches(split, settings.retrain.samples_per_group, 64, seed, device)
    sal = settings.saliency
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        curv = curvature(model, batches, sal.estimator, probes=sal.probes, seed=seed)
    fallback = next((str(w.message) for w in caught if issubclass(w.category, CurvatureFallback)), None)
    s, a = saliencies(model, curv, sal.beta)
    return Refreshed(masks_from_saliency(s, a, settings.method, settings.target, seed=seed), fallback)


def validation_score(model: nn.Module, emulator: ChipEmulator, masks: Masks | None,
                     val: TensorSplit, num_classes: int, chips: list[int], device: str) -> tuple[float, float]:
    """Mean EOdds and mean pooled F1 (the paper's eq. 3) of the model on validation chips."""
    eodds, f1 = [], []
    for seed in chips:
        with emulator.perturbed(masks, seed):
            m = metrics_from_logits(predict_logits(model, val, device), val, num_classes)
        eodds.append(m["eodds"])
        f1.append(m["f1_micro"])
    return float(sum(eodds) / len(eodds)), float(sum(f1) / len(f1))


class FineTuning:
    """One fine-tuning arm on a copy of a model, one method per paper step; ``run`` trains it.

    Steps 1–3: group-separated mini-batches; every ``refresh_every`` steps the curvature, ranks
    and masks are recomputed on the current weights. Step 4 (arms with ``chip_errors``): the
    preset's errors on the targeted weights, drawn as Monte-Carlo chips are (``ChipEmulator``),
    either for the forward/backward only (``straight-through``) or written into the weights after
    each step (``persistent``); ``chip`` fixed = chip 0 throughout (permanent faults), fresh = chip
    k at step k. Step 5: every ``eval_every`` steps the model is scored on ``val_chips`` validation
    chips; the kept checkpoint has the lowest validation EOdds among those losing at most
    ``max_f1_loss`` of pooled F1 against the starting model, and training stops after
    ``patience`` evaluations without a better one. Every arm (``ft``, the control, too) is
    selected the same way, so arms differ only in their loss and their errors.
    """

    def __init__(self, model: nn.Module, splits: Splits, arm: str, settings: ArmSettings, preset: Preset | None,
                 device: str = "cpu", seed: int = 0):
        if arm not in FINETUNE_ARMS:
            raise UserError(f"unknown fine-tuning arm '{arm}'; choose one of {', '.join(FINETUNE_ARMS)}")
        rt = settings.retrain
        self.arm, self.settings, self.rt, self.splits, self.device, self.seed = arm, settings, rt, splits, device, seed
        self.errors = ARMS[arm].chip_errors
        self.loss = ARM_LOSSES[ARMS[arm].loss]
        if preset is None and (self.errors or rt.eval_every):
            raise UserError(f"arm {arm} needs a preset: its errors and validation chips come from one")
        self.model = copy.deepcopy(model).to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=rt.lr)
        self.emulator = ChipEmulator(self.model, preset, settings.digital_layers, seed) if preset is not None else None
        self.gen = torch.Generator().manual_seed(arm_batch_seed(seed, arm))
        self.idx_by_group = [torch.nonzero(splits.train.groups == c).flatten() for c in (0, 1)]
        self.half = max(1, rt.batch_size // 2)
        self.val_chips = [validation_chip_seed(seed, k) for k in range(rt.val_chips)]
        self.masks: Masks | None = None
        self.have_masks = False  # masks exist once computed (uniform's are None)
        self.fallback: str | None = None
        self.history: list[dict[str, float]] = []
        self.best: tuple[int, float, dict[str, torch.Tensor]] | None = None
        self.since_best = 0
        self.f1_reference: float | None = None

    def current_masks(self, step: int) -> Masks | None:
        """Steps 2–3 on the current weights."""
        self.model.eval()
        got = refresh_masks(self.model, self.splits.train, self.settings, arm_refresh_seed(self.seed, self.arm, step),
                            self.device)
        self.masks, self.have_masks = got.masks, True
        self.fallback = self.fallback or got.fallback
        return self.masks

    def refresh(self, step: int) -> None:
        """Steps 2–3 every ``refresh_every`` steps (step 0's masks may exist: the starting score made them)."""
        if self.errors and step % self.rt.refresh_every == 0 and not (step == 0 and self.have_masks):
            self.current_masks(step)

    def draw(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Step 1: half of the batch from each group."""
        picks = torch.cat([ix[torch.randint(0, len(ix), (self.half,), generator=self.gen)]
                           for ix in self.idx_by_group])
        train = self.splits.train
        return (to_float(train.images[picks]).to(self.device), train.labels[picks].to(self.device),
                train.groups[picks].to(self.device))

    def chip(self, step: int) -> int:
        assert self.emulator is not None
        return self.emulator.chip_seed(0 if self.settings.chip == "fixed" else step)

    def chip_errors(self, step: int) -> ContextManager[Any]:
        """Step 4, straight-through: the chip's errors for this step's forward and backward."""
        if not self.errors or self.rt.errors != "straight-through":
            return contextlib.nullcontext()
        assert self.emulator is not None
        return self.emulator.perturbed(self.masks, self.chip(step))

    def loss_of(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y, g = batch
        return self.loss(self.model(x), y, g, self.rt)

    def score(self, step: int) -> tuple[float, float]:
        """Step 5's measurement: validation chips with the current (or, without errors, fresh) masks."""
        masks = self.masks if self.errors and self.have_masks else self.current_masks(step)
        assert self.emulator is not None
        return validation_score(self.model, self.emulator, masks, self.splits.val, self.splits.num_classes,
                                self.val_chips, self.device)

    def after(self, step: int) -> None:
        """Step 4 persistent (the errors stay in the weights), then step 5 at its steps."""
        if self.errors and self.rt.errors == "persistent":
            assert self.emulator is not None
            self.emulator.persist(self.masks, self.chip(step))
        done = step + 1
        if not self.rt.eval_every or (done % self.rt.eval_every and done != self.rt.steps):
            return
        eo, f1 = self.score(done)
        self.history.append({"step": done, "val_eodds": eo, "val_f1_pooled": f1})
        assert self.f1_reference is not None
        meets = f1 >= self.f1_reference - self.rt.max_f1_loss
        if meets and (self.best is None or eo < self.best[1]):
            self.best = (done, eo, {k: v.detach().clone() for k, v in self.model.state_dict().items()})
            self.since_best = 0
        else:
            self.since_best += 1

    def stop(self, step: int) -> bool:
        """Step 5: stop once the target has not improved for ``patience`` evaluations."""
        return bool(self.rt.eval_every) and self.best is not None and self.since_best >= self.rt.patience

    def run(self, progress: bool = True) -> tuple[nn.Module, dict[str, Any]]:
        """Train; returns the kept model and what happened (losses, the validation history, the
        kept step, and ``curvature_fallback``: why the curvature fell back to Hutchinson, or None)."""
        if self.rt.eval_every:
            eo0, self.f1_reference = self.score(0)
            self.history.append({"step": 0, "val_eodds": eo0, "val_f1_pooled": self.f1_reference})
        losses = optimise(self.model, self.opt, self.rt.steps, self.draw, self.loss_of, before=self.refresh,
                          around=self.chip_errors, after=self.after, stop=self.stop, progress=progress,
                          desc=f"retrain {ARM_LABELS[self.arm]}")
        kept = len(losses)
        if self.best is not None:
            kept = self.best[0]
            self.model.load_state_dict(self.best[2])
        self.model.eval()
        return self.model, {"loss_first": losses[0], "loss_last": losses[-1], "steps_run": len(losses),
                            "kept_step": kept, "target_met": self.best is not None or not self.rt.eval_every,
                            "val_history": self.history, "f1_reference": self.f1_reference,
                            "curvature_fallback": self.fallback}


def finetune(model: nn.Module, splits: Splits, arm: str, settings: ArmSettings, preset: Preset | None,
             device: str = "cpu", seed: int = 0, progress: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Fine-tune a copy of ``model`` as one arm (paper §IV-D steps 1–5, see ``FineTuning``);
    returns the kept model and what happened."""
    return FineTuning(model, splits, arm, settings, preset, device, seed).run(progress)
