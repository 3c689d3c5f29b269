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


def bootstrap_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray | None, rows: np.ndarray
) -> dict[str, np.ndarray]:
    """:func:`binary_metrics` of every resample at once: ``rows`` is (resamples, n) row indices;
    a metric a resample cannot have (the AUC of one class) is NaN. The same numbers as calling
    :func:`binary_metrics` per resample, computed in the same order."""
    truth, predicted = y_true[rows], y_pred[rows]
    tp = (truth & predicted).sum(axis=1)
    tn = (~truth & ~predicted).sum(axis=1)
    fp = (~truth & predicted).sum(axis=1)
    fn = (truth & ~predicted).sum(axis=1)
    n = tp + tn + fp + fn
    precision, recall = _ratios(tp, tp + fp), _ratios(tp, tp + fn)
    specificity = _ratios(tn, tn + fp)
    accuracy = _ratios(tp + tn, n)
    expected = _ratios((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp), n * n)
    kappa = np.where(expected < 1, _ratios(accuracy - expected, 1 - expected), 0.0)
    auc = np.full(len(rows), np.nan)
    if score is not None and len(rows):
        positives, negatives = tp + fn, tn + fp
        ranks = average_ranks(score[rows])
        both = (positives > 0) & (negatives > 0)
        ranked = (ranks * truth).sum(axis=1)
        auc[both] = (ranked[both] - positives[both] * (positives[both] + 1) / 2) / (
            positives[both] * negatives[both]
        )
    return {
        "accuracy": accuracy,
        "precision": precision,
        "recall": recall,
        "f1": _ratios(2 * precision * recall, precision + recall),
        "auc": auc,
        "specificity": specificity,
        "balanced_accuracy": (recall + specificity) / 2,
        "kappa": kappa,
    }


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Each row's ranks from 1, ties sharing their average (``scipy.stats.rankdata`` per row,
    without its per-row loop)."""
    rows, n = values.shape
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    starts = np.ones((rows, n), bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = np.ones((rows, n), bool)
    ends[:, :-1] = starts[:, 1:]
    position = np.arange(1, n + 1)
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, position, n + 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty((rows, n))
    np.put_along_axis(ranks, order, (first + last) / 2, axis=1)
    return ranks


def _ratios(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """:func:`_ratio` elementwise: 0 where the denominator is 0."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


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
    n = len(y_true)
    rows = np.random.default_rng(seed).integers(0, n, (n_bootstrap if n else 0, n))
    samples = bootstrap_metrics(y_true, y_pred, None if score is None else np.asarray(score), rows)
    tail = (1 - level) / 2 * 100
    intervals = {
        name: (
            (float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail)))
            if values.size and metrics[name] is not None
            else None
        )
        for name, values in ((name, samples[name][~np.isnan(samples[name])]) for name in METRICS)
    }
    confusion = {
        "tp": int((y_true & y_pred).sum()),
        "fp": int((~y_true & y_pred).sum()),
        "tn": int((~y_true & ~y_pred).sum()),
        "fn": int((y_true & ~y_pred).sum()),
    }
    return Evaluation(metrics, intervals, confusion, n)
