"""Scores of a diagnosis against the truth: metrics with bootstrap intervals, and plots."""

from rura.evaluation.metrics import METRICS, Evaluation, binary_metrics, evaluate

__all__ = ["METRICS", "Evaluation", "binary_metrics", "evaluate"]
