"""Pair metrics: how well the same-disease probability separates matching from other pairs."""

from __future__ import annotations

import numpy as np

PAIR_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "auc")

#: A backbone whose training F1 beats its validation F1 by more than this is overfitting.
OVERFIT_GAP = 0.15


def pair_metrics(same: np.ndarray, probability: np.ndarray) -> dict[str, float | None]:
    """Accuracy, precision, recall, F1 (threshold 0.5) and AUC of same-disease predictions."""
    from rura.evaluation.metrics import binary_metrics

    same = np.asarray(same) > 0.5
    probability = np.asarray(probability, float)
    metrics = binary_metrics(same, probability >= 0.5, probability)
    return {name: metrics[name] for name in PAIR_METRICS}


def is_overfitting(train_f1: float, val_f1: float, gap: float = OVERFIT_GAP) -> bool:
    """The overfitting rule: training F1 − validation F1 > ``gap`` (0.15)."""
    return train_f1 - val_f1 > gap
