"""Mitigation arms: VA/VFA retraining, fairness-loss and boundary fine-tuning, aihwkit HWA training,
magnitude and FairPrune pruning, and the per-group gradient/curvature diagnostics.

The arm registry (``arm_registry.py``) is light; the torch code loads on first use.
"""
from ..lazy import lazy_exports
from .arm_registry import ARM_LABELS, ARMS, FINETUNE_ARMS, PRUNE_KINDS

_FROM = {
    ".diagnostics": ("gradient_norm", "group_diagnostics", "top_hessian_eigenvalue"),
    ".emulation": ("ChipEmulator",),
    ".config": ("ArmSettings", "PruneSection", "RetrainSection"),
    ".fine_tuning": ("FineTuning", "finetune", "refresh_masks", "validation_score"),
    ".hwa": ("analog_to_digital", "hwa_train"),
    ".objectives": ("boundary_loss", "group_losses", "logit_margin", "vfa_loss"),
    ".prune": ("MASK_BUILDERS", "apply_pruning", "fairprune_masks", "magnitude_prune_masks", "prune_and_finetune"),
    ".runners": ("RUNNERS", "train_arm"),
}
__all__ = ["ARMS", "ARM_LABELS", "FINETUNE_ARMS", "PRUNE_KINDS", *[n for names in _FROM.values() for n in names]]
__getattr__, __dir__ = lazy_exports(__name__, {n: mod for mod, names in _FROM.items() for n in names})
