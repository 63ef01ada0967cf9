"""How figures order and colour methods and arms: from the registries, never a hand-kept list.

Why: a method or arm missing from a hand-kept list used to vanish from every figure; now any
label found in the results is drawn, registered ones in registry order with their colours,
anything else after them in a fallback colour.
"""
from __future__ import annotations

from typing import Iterable

from ..retrain.arm_registry import ARMS
from ..saliency.methods import METHOD_INFO, MethodLabel

_REGISTERED = {m.name: m.color for m in METHOD_INFO.values()} | {a.label: a.color for a in ARMS.values()}
_FALLBACK = ["#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94"]  # light: never a registered colour


def ordered(labels: Iterable[str]) -> list[str]:
    """The labels present in registry order (a method's other readings right after it), then the rest sorted."""
    present = set(labels)
    known = [label for base in _REGISTERED for label in sorted(present)
             if MethodLabel.split(label).base == base]
    return list(dict.fromkeys(known)) + sorted(present - set(known))


def color(label: str) -> str:
    """The label's registered colour, or a stable fallback for a label no registry knows."""
    if label in _REGISTERED:
        return _REGISTERED[label]
    parts = MethodLabel.split(label)
    if parts.rule and parts.base in _REGISTERED:  # another reading of a registered method: a darker shade of its colour
        r, g, b = (int(_REGISTERED[parts.base][i:i + 2], 16) for i in (1, 3, 5))
        return f"#{r * 3 // 5:02x}{g * 3 // 5:02x}{b * 3 // 5:02x}"
    return _FALLBACK[sum(map(ord, label)) % len(_FALLBACK)]
