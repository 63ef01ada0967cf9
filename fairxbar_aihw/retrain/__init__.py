"""Mitigation arms: VA/VFA retraining, fairness-loss and boundary fine-tuning, aihwkit HWA training,
magnitude and FairPrune pruning, and the per-group gradient/curvature diagnostics."""
from .diagnostics import gradient_norm, group_diagnostics, top_hessian_eigenvalue
from .finetune import ARM_LABELS, FINETUNE_ARMS, ErrorEmulator, RetrainConfig, finetune, refresh_masks
from .hwa import analog_to_digital, hwa_train
from .objectives import boundary_loss, group_losses, logit_margin, vfa_loss
from .prune import PRUNE_KINDS, apply_pruning, fairprune_masks, magnitude_prune_masks, prune_and_finetune

__all__ = [
    "RetrainConfig", "finetune", "hwa_train", "ErrorEmulator", "refresh_masks", "ARM_LABELS",
    "FINETUNE_ARMS", "vfa_loss", "boundary_loss", "group_losses", "logit_margin", "gradient_norm",
    "top_hessian_eigenvalue", "group_diagnostics", "magnitude_prune_masks", "fairprune_masks", "apply_pruning",
    "prune_and_finetune", "PRUNE_KINDS", "analog_to_digital",
]
