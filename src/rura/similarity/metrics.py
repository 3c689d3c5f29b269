"""Pair metrics: how well the same-disease probability separates matching from other pairs."""

from __future__ import annotations

import numpy as np

PAIR_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "auc")

#: A backbone whose training F1 beats its validation F1 by more than this is overfitting.
OVERFIT_GAP = 0.15


#: Mean same-disease probability of the matching and of the other pairs (beside PAIR_METRICS).
MEAN_PROBABILITIES: tuple[str, ...] = ("mean_same", "mean_different")


def pair_metrics(same: np.ndarray, probability: np.ndarray) -> dict[str, float | None]:
    """Accuracy, precision, recall, F1 (threshold 0.5) and AUC of same-disease predictions, and
    the mean probability of matching (``mean_same``) and other pairs (``mean_different``)."""
    from rura.evaluation.metrics import binary_metrics

    same = np.asarray(same) > 0.5
    probability = np.asarray(probability, float)
    metrics = binary_metrics(same, probability >= 0.5, probability)
    means = [probability[same], probability[~same]]
    return {name: metrics[name] for name in PAIR_METRICS} | {
        name: float(values.mean()) if len(values) else None
        for name, values in zip(MEAN_PROBABILITIES, means, strict=True)
    }


def is_overfitting(train_f1: float, val_f1: float, gap: float = OVERFIT_GAP) -> bool:
    """The overfitting rule: training F1 − validation F1 > ``gap`` (0.15)."""
    return train_f1 - val_f1 > gap
