"""The targeting methods a study may choose, with what reports need to show them.

Kept apart from the torch code so configs validate without torch. A new method is one entry
here plus its mask rule in ``targeting.MASK_RULES`` (and its test).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

ESTIMATORS = ("hutchinson", "hessian-exact", "ggn-exact", "ggn-mc", "fisher")


@dataclass(frozen=True)
class MethodInfo:
    """A targeting method: which weights get the chip's errors."""

    name: str
    color: str  # its colour in every figure
    targeted: bool  # False: no target fraction (uniform hits every weight, none hits none)
    doc: str
    everywhere: bool = False  # errors on every weight: its chips need no masks (and no curvature)


METHOD_INFO = {m.name: m for m in (
    MethodInfo("none", "#000000", False, "no errors anywhere (the pre-trained model)"),
    MethodInfo("uniform", "#7f7f7f", False, "errors on every weight", everywhere=True),
    MethodInfo("random", "#1f77b4", True, "F+A R's per-layer counts, placed at random"),
    MethodInfo("FR", "#ff7f0e", True, "per layer, the top x% by fairness saliency (most negative s)"),
    MethodInfo("FR-matched", "#bcbd22", True, "per layer, the top k by fairness saliency, k = F+A R's count there"),
    MethodInfo("F+A R", "#2ca02c", True, "per layer, significant to fairness and negligible to accuracy "
               "(fa_rule: exclude or intersect)"),
)}
METHODS = tuple(METHOD_INFO)
# The two readings of "top x% on the fairness ranks and bottom x% on the accuracy ranks" (paper §IV-C/D):
#   exclude   = the top x% by s (most negative) minus the top x% by a (largest): significant to
#               fairness, not among the most important to accuracy (the default; gives Fig. 5)
#   intersect = the top x% by s ∩ the bottom x% by a (smallest); with exact (PSD) curvature |s| ≤ a,
#               so at small x the two sets need not meet at all
FA_RULES = ("exclude", "intersect")
# Methods whose masks depend on the F+A R rule; a study may name them with a rule, "F+A R [intersect]".
RULED = ("F+A R", "random", "FR-matched")


@dataclass(frozen=True)
class MethodLabel:
    """A method label as rows and configs carry it, "F+A R [intersect]", parsed once: ``base`` is
    the registered method, ``rule`` its F+A R reading (None for a method no rule affects)."""

    base: str
    rule: str | None = None

    @classmethod
    def split(cls, label: str) -> "MethodLabel":
        """The parts of any label, unchecked (a stored row's, an arm's): "<base> [<rule>]"."""
        base, _, rest = label.partition(" [")
        return cls(base, rest.rstrip("]") if rest else None)

    @classmethod
    def parse(cls, label: str, default_rule: str = "exclude") -> "MethodLabel":
        """A registered method's label, checked; a ruled method without a suffix takes ``default_rule``."""
        got = cls.split(label)
        if got.base not in METHOD_INFO or (got.rule is not None and (got.base not in RULED or got.rule not in FA_RULES)):
            raise UserError(f"unknown targeting method '{label}'; choose one of {', '.join(METHODS)} "
                            f"(ruled ones optionally as 'F+A R [intersect]')")
        return cls(got.base, (got.rule or default_rule) if got.base in RULED else None)

    def text(self) -> str:
        """The canonical label stored with rows: the rule is named when it is not the default reading."""
        return self.base if self.rule in (None, "exclude") else f"{self.base} [{self.rule}]"

    @property
    def is_fa(self) -> bool:
        """An F+A R reading (the method the paper proposes)."""
        return self.base == "F+A R"

    @property
    def targeted(self) -> bool:
        """Whether the method picks weights at a target fraction (uniform and none do not)."""
        return METHOD_INFO[self.base].targeted

    @property
    def needs_masks(self) -> bool:
        """Whether its chips need masks (uniform's errors hit every weight: no masks, no curvature)."""
        return not METHOD_INFO[self.base].everywhere


def canonical(label: str, default_rule: str = "exclude") -> str:
    """A configured method's canonical label ("F+A R [exclude]" → "F+A R")."""
    return MethodLabel.parse(label, default_rule).text()
