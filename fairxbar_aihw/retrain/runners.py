"""How each arm's model is made, by the runner its registry entry names (``arm_registry.ArmInfo.runner``).

Every runner takes the same arguments and returns the model and what its training recorded, so a
study trains any arm the same way: ``train_arm``.
"""
from __future__ import annotations

from typing import Any, Callable

import torch.nn as nn

from ..data.splits import Splits
from ..errors import UserError
from ..hardware import Preset
from .config import ArmSettings
from .fine_tuning import finetune
from .hwa import hwa_train
from .arm_registry import ARMS

Runner = Callable[[nn.Module, Splits, str, ArmSettings, "Preset | None", str, int, bool],
                  tuple[nn.Module, dict[str, Any]]]


def _hwa(model: nn.Module, splits: Splits, arm: str, settings: ArmSettings, preset: Preset | None, device: str,
         seed: int, progress: bool) -> tuple[nn.Module, dict[str, Any]]:
    if preset is None:
        raise UserError(f"arm {arm} needs a preset: aihwkit's training noise is set per tile of one")
    return hwa_train(model, splits, preset, settings, device, seed, progress), {}


RUNNERS: dict[str, Runner] = {"finetune": finetune, "hwa": _hwa}
# What each runner can honour of an arm's entry: aihwkit's HWA trains with its own noise and cross-entropy.
RUNNER_LOSSES: dict[str, tuple[str, ...] | None] = {"finetune": None, "hwa": ("ce",)}  # None: any ARM_LOSSES entry
RUNNER_CHIP_ERRORS: dict[str, bool] = {"finetune": True, "hwa": False}


def check_arm(arm: str) -> None:
    """Refuse an arm whose registry entry asks its runner for something it does not do (a new loss or
    chip errors on the HWA runner would otherwise be silently ignored)."""
    info = ARMS[arm]
    losses = RUNNER_LOSSES[info.runner]
    if losses is not None and info.loss not in losses:
        raise UserError(f"arm {arm}: runner {info.runner} trains with loss {', '.join(losses)} only, not {info.loss}")
    if info.chip_errors and not RUNNER_CHIP_ERRORS[info.runner]:
        raise UserError(f"arm {arm}: runner {info.runner} cannot train under the chip's errors")


def train_arm(model: nn.Module, splits: Splits, arm: str, settings: ArmSettings, preset: Preset | None,
              device: str = "cpu", seed: int = 0, progress: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """A retrained copy of ``model`` as ``arm``, and what its training recorded."""
    if arm not in ARMS:
        raise UserError(f"unknown arm '{arm}'; choose one of {', '.join(ARMS)}")
    check_arm(arm)
    return RUNNERS[ARMS[arm].runner](model, splits, arm, settings, preset, device, seed, progress)
