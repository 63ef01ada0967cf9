"""Baseline training and evaluation. torch loads on first use, so a study file's ``train`` section
(``config.py``) validates without it."""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_FROM = {
    ".config": ("AUGMENTS", "TrainConfig", "TrainSection"),
    ".evaluate": ("evaluate", "metrics_from_logits", "predict_logits"),
    ".train": ("checkpoint_key", "load_checkpoint", "train"),
}
_EXPORTS = {n: mod for mod, names in _FROM.items() for n in names}
__all__ = ["TrainConfig", "train", "load_checkpoint", "evaluate", "predict_logits", "metrics_from_logits"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)


def __dir__() -> list[str]:
    return sorted(_EXPORTS)


class _Package(types.ModuleType):
    """``training.train`` and ``training.evaluate`` are the functions: loading the submodules of those
    names never rebinds them (as the eager imports this package once made never did)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _EXPORTS and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
