"""Fairness and accuracy metrics (public: ``fx.metrics.compute``)."""
from .churn import churn
from .core import HEADLINE, binary_auc, compute, flat_row, improvement
from .predictions_file import metrics_from_csv

__all__ = ["compute", "metrics_from_csv", "improvement", "HEADLINE"]  # the stable API
