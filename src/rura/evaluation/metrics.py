"""Binary diagnosis metrics, computed once from the confusion counts, with bootstrap intervals.

AUC uses the continuous score (the rank statistic), never hard labels; with one class present
it is undefined (``None``), not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

METRICS: tuple[str, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "auc",
    "specificity",
    "balanced_accuracy",
    "kappa",
)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def auc_score(y_true: np.ndarray, score: np.ndarray) -> float | None:
    """The area under the ROC curve (Mann-Whitney U with tied ranks); None with one class."""
    from scipy.stats import rankdata

    y_true = np.asarray(y_true, bool)
    positives, negatives = int(y_true.sum()), int((~y_true).sum())
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[y_true].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def binary_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray | None = None
) -> dict[str, float | None]:
    """Every metric of :data:`METRICS` for labels 1 = disease, 0 = normal."""
    y_true = np.asarray(y_true, bool)
    y_pred = np.asarray(y_pred, bool)
    tp = int((y_true & y_pred).sum())
    tn = int((~y_true & ~y_pred).sum())
    fp = int((~y_true & y_pred).sum())
    fn = int((y_true & ~y_pred).sum())
    n = tp + tn + fp + fn
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    accuracy = _ratio(tp + tn, n)
    expected = _ratio((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp), n * n)
    kappa = _ratio(accuracy - expected, 1 - expected) if expected < 1 else 0.0
    return {
        "accuracy": accuracy,
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "auc": auc_score(y_true, score) if score is not None else None,
        "specificity": specificity,
        "balanced_accuracy": (recall + specificity) / 2,
        "kappa": kappa,
    }


@dataclass
class Evaluation:
    """Metrics with their bootstrap intervals and the confusion counts."""

    metrics: dict[str, float | None]
    intervals: dict[str, tuple[float, float] | None]
    confusion: dict[str, int]
    n: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "metrics": self.metrics,
            "intervals_95": {k: list(v) if v else None for k, v in self.intervals.items()},
            "confusion": self.confusion,
            **self.extra,
        }


def evaluate(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    score: np.ndarray | None = None,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Evaluation:
    """Metrics, and percentile bootstrap intervals from ``n_bootstrap`` resamples of the rows."""
    y_true = np.asarray(y_true, bool)
    y_pred = np.asarray(y_pred, bool)
    metrics = binary_metrics(y_true, y_pred, score)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {name: [] for name in METRICS}
    n = len(y_true)
    for _ in range(n_bootstrap if n else 0):
        rows = rng.integers(0, n, n)
        resampled = binary_metrics(
            y_true[rows], y_pred[rows], None if score is None else np.asarray(score)[rows]
        )
        for name, value in resampled.items():
            if value is not None:
                samples[name].append(value)
    tail = (1 - level) / 2 * 100
    intervals = {
        name: (
            (float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail)))
            if values and metrics[name] is not None
            else None
        )
        for name, values in samples.items()
    }
    confusion = {
        "tp": int((y_true & y_pred).sum()),
        "fp": int((~y_true & y_pred).sum()),
        "tn": int((~y_true & ~y_pred).sum()),
        "fn": int((y_true & ~y_pred).sum()),
    }
    return Evaluation(metrics, intervals, confusion, n)
