"""The retraining and pruning settings as the study file gives them (sections ``retrain`` and
``prune``), and ``ArmSettings``: the section plus what a study resolves, as the arms take it.

One definition of each field and its range, from YAML to the training loop: the study composes
these sections (``study/schema.py``), the plan resolves the few values that depend on the rest of
the study (``ArmSettings``), and the runners read the same objects.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..saliency.config import Method, SaliencySection
from ..sections import Section
from .arm_registry import PRUNE_KINDS, RETRAIN_ARMS

Arm = Literal[RETRAIN_ARMS]  # type: ignore[valid-type]
PruneKind = Literal[PRUNE_KINDS]  # type: ignore[valid-type]


class RetrainSection(Section):
    arms: list[Arm] = Field(default_factory=list, description="mitigation arms to run")
    steps: int = Field(150, ge=1, description="fine-tuning steps per arm")
    lr: float = Field(5e-4, gt=0, lt=1, description="fine-tuning learning rate")
    batch_size: int = Field(128, ge=1, description="mini-batch size per group")
    refresh_every: int = Field(1, ge=1, description="steps between curvature, rank and mask refreshes (the paper: "
                               "every step; each refresh costs one curvature pass)")
    chip: Literal["auto", "fresh", "fixed"] = Field("auto", description="fixed: one emulated chip throughout; "
                                                    "fresh: chip k at step k; auto: fixed for permanent faults (SAF), "
                                                    "fresh otherwise")
    errors: Literal["straight-through", "persistent"] = Field(
        "straight-through", description="straight-through: errors for the forward/backward, clean weights updated; "
        "persistent: after each step the weights become the chip's programmed weights (step 4 literally)")
    eval_every: int = Field(25, ge=0, description="steps between validation-chip evaluations (paper step 5; 0 keeps "
                            "the last step)")
    val_chips: int = Field(5, ge=1, description="validation chips per evaluation")
    patience: int = Field(3, ge=1, description="evaluations without a better checkpoint before stopping early")
    max_f1_loss: float = Field(0.01, ge=0, le=1, description="the target: lowest validation EOdds among checkpoints "
                               "losing at most this much pooled F1 (0.01 = 1 point)")
    preset: str | None = Field(None, description="technology whose errors VA/VFA emulate (default: the first "
                               "sweep preset at its first intensity)")
    intensity: float | None = Field(None, description="its intensity (default: the first sweep intensity)")
    alpha: float = Field(0.5, ge=0, le=1, description="VFA loss weight α in (1−α)·L + α·|L₀ − L₁|")
    lam: float = Field(0.1, ge=0, description="boundary-regulariser weight λ")
    hwa_noise: float = Field(0.05, ge=0, description="aihwkit HWA training weight noise (relative)")
    method: Method = Field("F+A R", description="targeting of the retrained models' chips")
    target: float | None = Field(None, gt=0, le=1, description="their target fraction (default: the largest "
                                 "sweep target)")
    trials: int | None = Field(None, ge=1, description="chips per cell (default: the sweep's trials)")
    samples_per_group: int = Field(256, ge=1, description="curvature samples per group at each refresh")
    presets: list[str] | None = Field(None, description="sweep presets the arms are evaluated on (default: all)")
    diagnostic_iters: int = Field(30, ge=0, description="power iterations of the per-group diagnostics "
                                  "(0 skips them)")


class PruneSection(Section):
    kinds: list[PruneKind] = Field(default_factory=list, description="magnitude and/or fairprune")
    sparsities: list[float] = Field([0.5, 0.7, 0.9], description="pruned fractions in [0, 1)")
    finetune_steps: int = Field(0, ge=0, description="fine-tuning steps after pruning (pruned weights stay 0)")
    lr: float = Field(5e-4, gt=0, lt=1, description="its learning rate")
    beta: float = Field(1.0, ge=0, description="FairPrune's β")


# What an arm's model depends on from each section (hashed into its checkpoint and row keys).
_KEYED_RETRAIN = ("steps", "lr", "batch_size", "refresh_every", "alpha", "lam", "errors", "eval_every", "val_chips",
                  "patience", "max_f1_loss", "samples_per_group", "hwa_noise")
_KEYED_SALIENCY = ("estimator", "probes", "beta")


class ArmSettings(Section):
    """An arm's settings as its runner takes them: the study's ``retrain`` and ``saliency`` sections
    and the values the study resolves from the rest of its configuration."""

    retrain: RetrainSection = Field(default_factory=RetrainSection)
    saliency: SaliencySection = Field(default_factory=SaliencySection)  # its estimator, probes and β
    method: Method = Field("F+A R", description="the targeting's canonical label (its rule resolved)")
    target: float = Field(0.4, description="resolved: retrain.target, else the largest sweep target")
    chip: Literal["fresh", "fixed"] = Field("fresh", description="resolved: retrain.chip with auto decided")
    digital_layers: list[str] = Field(default_factory=list, description="model.digital_layers")

    def keyed(self) -> dict[str, Any]:
        """Everything the arm's model depends on, as plain data for its key (the same dict, field for
        field, that keys made before these settings were typed: existing checkpoints still resume)."""
        return {**{k: getattr(self.retrain, k) for k in _KEYED_RETRAIN},
                **{k: getattr(self.saliency, k) for k in _KEYED_SALIENCY},
                "method": self.method, "target": self.target, "chip": self.chip,
                "digital_layers": list(self.digital_layers)}
