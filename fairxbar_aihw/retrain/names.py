"""The mitigation arms a study may run, with their labels, runners and figure colours.

Kept apart from the torch code so configs validate without torch. A new arm is one entry here
plus its runner (``finetune`` arms add their loss in ``fine_tuning.py``) and its test; reports and
figures pick it up from here.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArmInfo:
    """A mitigation arm: how its model is made and how reports show it."""

    name: str
    label: str  # how tables, figures and row keys name it
    runner: str  # "finetune" (retrain/fine_tuning.py) or "hwa" (aihwkit's hardware-aware training)
    color: str
    doc: str


ARMS = {a.name: a for a in (
    ArmInfo("va", "VA-Retrain", "finetune", "#d62728", "fine-tune with the preset's errors on the targeted weights"),
    ArmInfo("vfa", "VFA-Retrain", "finetune", "#9467bd", "VA with loss (1−α)·L + α·|L₀ − L₁|"),
    ArmInfo("hwa", "HWA (aihwkit)", "hwa", "#8c564b", "aihwkit's weight-noise training, no fairness term"),
    ArmInfo("fair-loss", "Fair-loss FT", "finetune", "#e377c2", "the VFA loss without errors"),
    ArmInfo("boundary", "Boundary-reg FT", "finetune", "#17becf", "CE + λ·|mean margin₀ − mean margin₁|"),
    ArmInfo("ft", "Plain FT", "finetune", "#393b79", "the control: VA's batches, steps and learning rate, "
            "no errors, cross-entropy"),
)}
ARM_LABELS = {name: a.label for name, a in ARMS.items()}
FINETUNE_ARMS = tuple(name for name, a in ARMS.items() if a.runner == "finetune")
RETRAIN_ARMS = tuple(ARMS)
