"""Baseline training and evaluation."""
from .evaluate import evaluate, metrics_from_logits, predict_logits
from .train import TrainConfig, load_checkpoint, train

__all__ = ["TrainConfig", "train", "load_checkpoint", "evaluate", "predict_logits", "metrics_from_logits"]
