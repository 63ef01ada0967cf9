"""The targeting methods a study may choose, with what reports need to show them.

Kept apart from the torch code so configs validate without torch. A new method is one entry
here plus its rule in ``targeting.masks_from_saliency`` (and its test).
"""
from __future__ import annotations

from dataclasses import dataclass

ESTIMATORS = ("hutchinson", "hessian-exact", "ggn-exact", "ggn-mc", "fisher")


@dataclass(frozen=True)
class MethodInfo:
    """A targeting method: which weights get the chip's errors."""

    name: str
    color: str  # its colour in every figure
    targeted: bool  # False: no target fraction (uniform hits every weight, none hits none)
    doc: str


METHOD_INFO = {m.name: m for m in (
    MethodInfo("none", "#000000", False, "no errors anywhere (the pre-trained model)"),
    MethodInfo("uniform", "#7f7f7f", False, "errors on every weight"),
    MethodInfo("random", "#1f77b4", True, "F+A R's per-layer counts, placed at random"),
    MethodInfo("FR", "#ff7f0e", True, "per layer, the top x% by fairness saliency (most negative s)"),
    MethodInfo("F+A R", "#2ca02c", True, "per layer, top x% by s ∩ bottom x% by accuracy saliency a"),
)}
METHODS = tuple(METHOD_INFO)
