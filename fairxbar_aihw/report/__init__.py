"""Markdown reports with figures, built from a study's results database."""
from .markdown import drift_section, write_report
from .stats import mean_ci, paired_comparison, paired_difference, summarise, verdict

__all__ = ["write_report", "drift_section", "mean_ci", "summarise", "paired_difference", "paired_comparison", "verdict"]
