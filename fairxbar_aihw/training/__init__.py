"""Baseline training and evaluation. torch loads on first use, so a study file's ``train`` section
(``config.py``) validates without it."""
from ..lazy import lazy_exports

_FROM = {
    ".config": ("AUGMENTS", "TrainConfig", "TrainSection"),
    ".evaluation": ("evaluate", "metrics_from_logits", "predict_logits"),
    ".loop": ("checkpoint_key", "load_checkpoint", "train"),
}
__all__ = ["TrainConfig", "train", "load_checkpoint", "evaluate", "predict_logits", "metrics_from_logits"]
__getattr__, __dir__ = lazy_exports(__name__, {n: mod for mod, names in _FROM.items() for n in names})
