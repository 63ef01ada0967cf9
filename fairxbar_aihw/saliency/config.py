"""The curvature and saliency settings as the study file gives them (section ``saliency``), and the
method-label type every section that names methods shares: one definition of each field and range."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from ..sections import Section
from .methods import ESTIMATORS, FA_RULES, MethodLabel

Estimator = Literal[ESTIMATORS]  # type: ignore[valid-type]
FaRule = Literal[FA_RULES]  # type: ignore[valid-type]


def _method(label: str) -> str:
    MethodLabel.parse(label)  # a ValueError names the known methods
    return label


Method = Annotated[str, AfterValidator(_method)]  # a method, optionally with its F+A R rule: "F+A R [intersect]"


class SaliencySection(Section):
    estimator: Estimator = Field("hessian-exact", description="per-group diagonal curvature estimator")
    samples_per_group: int = Field(512, ge=1, description="training samples per group for the curvature")
    batch_size: int = Field(128, ge=1, description="curvature batch size")
    probes: int = Field(8, ge=1, description="Rademacher probes (hutchinson)")
    beta: float = Field(1.0, ge=0, description="weight of the privileged group's term in s = ½h⁰θ² − β·½h¹θ²")
    fa_rule: FaRule = Field("exclude", description="the F+A R reading for methods named without one: exclude = "
                            "top x% by s minus top x% by a; intersect = top x% by s ∩ bottom x% by a")
