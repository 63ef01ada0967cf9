"""Fairness and accuracy metrics (public: ``fx.metrics.compute``, ``fx.metrics.compare``)."""
from .churn import churn
from .core import HEADLINE, MAX_GROUPS, binary_auc, compute, flat_row, improvement
from .registry import VALUE_PREFIX
from .predictions_file import metrics_from_csv, read_predictions
from .reference import compare

__all__ = ["compute", "compare", "metrics_from_csv", "improvement", "HEADLINE"]  # the stable API
