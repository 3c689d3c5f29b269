"""Segmentation scores from confusion counts accumulated once over a whole set (micro).

Per lesion, true/false positives/negatives are summed over every pixel of every image; every score
derives from those four counts, as in segmentation-models-pytorch's ``metrics/functional.py``.

The paper's two-class figures treat background and lesion as two classes: ``miou`` is the mean of
the lesion IoU and the background IoU, ``mpa`` the mean of their per-class pixel accuracies (recall
of each class), ``accuracy`` the fraction of pixels right. With ~99.9% background pixels these are
dominated by background, so lesion-only IoU and Dice are reported too.

Empty cases never give NaN. A ratio whose denominator is zero is 1.0 when the prediction and the
truth are both empty for that lesion (nothing to find, nothing found: perfect), and 0.0 otherwise
(e.g. precision when nothing is predicted but lesions exist).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SCORES = ("iou", "dice", "precision", "recall", "pixel_accuracy", "miou", "mpa", "accuracy")


@dataclass
class Confusion:
    """Pixel confusion counts per lesion, summed over a set of images."""

    lesions: tuple[str, ...]
    tp: np.ndarray = field(init=False)
    fp: np.ndarray = field(init=False)
    fn: np.ndarray = field(init=False)
    tn: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        for name in ("tp", "fp", "fn", "tn"):
            setattr(self, name, np.zeros(len(self.lesions), np.int64))

    def update(
        self, predicted: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None
    ) -> None:
        """Add one image (or a batch): boolean arrays ``(L, H, W)`` or ``(B, L, H, W)``.

        ``valid`` (broadcastable to the masks' spatial shape) excludes pixels, e.g. padding.
        """
        predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
        if predicted.shape != truth.shape:
            raise ValueError(f"prediction {predicted.shape} and truth {truth.shape} differ")
        if predicted.ndim == 3:
            predicted, truth = predicted[None], truth[None]
        if predicted.shape[1] != len(self.lesions):
            raise ValueError(f"{predicted.shape[1]} channels for {len(self.lesions)} lesions")
        weight = np.ones(predicted.shape[-2:], bool) if valid is None else np.asarray(valid, bool)
        weight = np.broadcast_to(weight, predicted.shape)
        axes = (0, 2, 3)
        self.tp += (predicted & truth & weight).sum(axis=axes)
        self.fp += (predicted & ~truth & weight).sum(axis=axes)
        self.fn += (~predicted & truth & weight).sum(axis=axes)
        self.tn += (~predicted & ~truth & weight).sum(axis=axes)

    def scores(self) -> dict[str, dict[str, float]]:
        """Every score of :data:`SCORES` per lesion, plus ``mean`` over lesions."""
        result = {
            lesion: binary_scores(*(int(c[i]) for c in (self.tp, self.fp, self.fn, self.tn)))
            for i, lesion in enumerate(self.lesions)
        }
        if self.lesions:
            result["mean"] = {
                s: float(np.mean([result[x][s] for x in self.lesions])) for s in SCORES
            }
        return result

    def counts(self) -> dict[str, dict[str, int]]:
        """The raw counts per lesion (for the JSON report)."""
        return {
            lesion: {k: int(getattr(self, k)[i]) for k in ("tp", "fp", "fn", "tn")}
            for i, lesion in enumerate(self.lesions)
        }


def binary_scores(tp: int, fp: int, fn: int, tn: int) -> dict[str, float]:
    """Lesion and two-class (background + lesion) scores from one lesion's confusion counts."""
    empty = tp + fp + fn == 0  # no lesion in truth or prediction

    def ratio(num: int, den: int) -> float:
        return num / den if den else (1.0 if empty else 0.0)

    total = tp + fp + fn + tn
    # Background as the positive class: its true positives are the lesion's true negatives.
    background_empty = tn + fp + fn == 0
    background_iou = tn / (tn + fp + fn) if tn + fp + fn else (1.0 if background_empty else 0.0)
    background_recall = tn / (tn + fp) if tn + fp else (1.0 if background_empty else 0.0)
    iou = ratio(tp, tp + fp + fn)
    recall = ratio(tp, tp + fn)
    accuracy = (tp + tn) / total if total else 1.0
    return {
        "iou": iou,
        "dice": ratio(2 * tp, 2 * tp + fp + fn),
        "precision": ratio(tp, tp + fp),
        "recall": recall,
        "pixel_accuracy": accuracy,
        "miou": (iou + background_iou) / 2,
        "mpa": (recall + background_recall) / 2,
        "accuracy": accuracy,
    }
