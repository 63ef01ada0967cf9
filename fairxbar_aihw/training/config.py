"""The training recipe as the study file gives it (section ``train``), and with the replicate's seed
as ``train`` takes it: one definition of each field and its range, from YAML to the optimiser."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..sections import Section

AUGMENTS = ("none", "flip", "paper")


class TrainSection(Section):
    epochs: int = Field(10, ge=1, description="training epochs (best-on-val checkpoint kept)")
    lr: float = Field(1e-3, gt=0, lt=1, description="Adam learning rate")
    batch_size: int = Field(128, ge=1, description="training batch size")
    weight_decay: float = Field(0.0, ge=0, description="Adam weight decay")
    augment: Literal[AUGMENTS] = Field("flip", description="none, flip, or paper (flip, rotation, "  # type: ignore
                                      "scaling, AutoAugment)")


class TrainConfig(TrainSection):
    """The section plus the replicate's seed (weight init and data order): everything the training
    recipe contributes to the checkpoint key. Not a study key: a study sets ``seed`` per replicate."""

    seed: int = Field(0, ge=0, description="seed of the data order and augmentation")
