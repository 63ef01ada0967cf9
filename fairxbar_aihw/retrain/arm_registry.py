"""The mitigation arms and pruning kinds a study may run: what each one does, by name.

Kept apart from the torch code so configs validate without torch. A new arm is one entry in
``ARMS`` (its loss named from ``objectives.ARM_LOSSES``, its runner from ``runners.RUNNERS``) and its
test; reports and figures take its label and colour from here. A new pruning kind is one entry in
``PRUNE_KINDS`` plus its mask builder in ``prune.MASK_BUILDERS``; reports name its rows by the kind.
Either becomes a valid study value, so regenerate ``docs/config-reference.md``
(``python -m fairxbar_aihw.config_reference > docs/config-reference.md``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArmInfo:
    """A mitigation arm: how its model is made and how reports show it."""

    name: str
    label: str  # how tables, figures and row keys name it
    runner: str  # "finetune" (retrain/fine_tuning.py) or "hwa" (aihwkit's hardware-aware training): runners.RUNNERS
    loss: str  # its training objective: objectives.ARM_LOSSES ("ce", "vfa", "boundary")
    chip_errors: bool  # trains under the emulated chip's errors on the targeted weights (paper step 4)
    color: str
    doc: str


ARMS = {a.name: a for a in (
    ArmInfo("va", "VA-Retrain", "finetune", "ce", True, "#d62728",
            "fine-tune with the preset's errors on the targeted weights"),
    ArmInfo("vfa", "VFA-Retrain", "finetune", "vfa", True, "#9467bd", "VA with loss (1−α)·L + α·|L₀ − L₁|"),
    ArmInfo("hwa", "HWA (aihwkit)", "hwa", "ce", False, "#8c564b",
            "aihwkit's weight-noise training, no fairness term"),
    ArmInfo("fair-loss", "Fair-loss FT", "finetune", "vfa", False, "#e377c2", "the VFA loss without errors"),
    ArmInfo("boundary", "Boundary-reg FT", "finetune", "boundary", False, "#17becf",
            "CE + λ·|mean margin₀ − mean margin₁|"),
    ArmInfo("ft", "Plain FT", "finetune", "ce", False, "#393b79", "the control: VA's batches, steps and learning "
            "rate, no errors, cross-entropy"),
)}
ARM_LABELS = {name: a.label for name, a in ARMS.items()}
FINETUNE_ARMS = tuple(name for name, a in ARMS.items() if a.runner == "finetune")
RETRAIN_ARMS = tuple(ARMS)

# Pruning kinds (stuck-at-zero weights), each with its mask builder in prune.MASK_BUILDERS.
PRUNE_KINDS = ("magnitude", "fairprune")
