"""Plots people look at rather than read: ROC curves, confusion matrices, leaderboard bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from rura.io import atomic_path


def new_figure(**kwargs: object) -> tuple:
    """``(figure, axes)`` from matplotlib's file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(**kwargs)


def save_figure(fig: object, path: Path) -> Path:
    """Write ``fig`` as a PNG atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as temporary:
        fig.savefig(temporary, format="png", dpi=120, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return path


def plot_roc(
    y_true: np.ndarray, score: np.ndarray, path: str | Path, *, title: str = "ROC"
) -> Path | None:
    """The ROC curve with its AUC; None (no file) when only one class is present."""
    from sklearn.metrics import roc_curve

    from rura.evaluation.metrics import auc_score

    y_true = np.asarray(y_true, bool)
    auc = auc_score(y_true, score)
    if auc is None:
        return None
    fpr, tpr, _ = roc_curve(y_true, score)
    fig, ax = new_figure(figsize=(4.5, 4.5))
    ax.plot(fpr, tpr, lw=2, label=f"AUC = {auc:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="lower right")
    return save_figure(fig, Path(path))


def plot_confusion(
    confusion: dict[str, int],
    path: str | Path,
    *,
    labels: Sequence[str] = ("normal", "disease"),
    title: str = "Confusion matrix",
) -> Path:
    """A 2x2 confusion matrix (rows: truth, columns: prediction) with counts."""
    matrix = np.array([[confusion["tn"], confusion["fp"]], [confusion["fn"], confusion["tp"]]])
    fig, ax = new_figure(figsize=(4, 3.6))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=colour, fontsize=12)
    ax.set_xticks([0, 1], labels=[f"pred. {label}" for label in labels])
    ax.set_yticks([0, 1], labels=[f"true {label}" for label in labels])
    ax.set_title(title)
    return save_figure(fig, Path(path))


def plot_leaderboard(
    names: Sequence[str],
    means: Mapping[str, Sequence[float]],
    stds: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    title: str = "Zero-shot diagnosis",
) -> Path:
    """Grouped bars: one group per run name, one bar per metric, error bars of one std."""
    metrics = list(means)
    width = 0.8 / max(len(metrics), 1)
    fig, ax = new_figure(figsize=(max(5.0, 1.2 * len(names) + 2), 3.8))
    x = np.arange(len(names))
    for offset, metric in enumerate(metrics):
        values = np.nan_to_num(np.asarray(means[metric], float))
        ax.bar(
            x + offset * width,
            values,
            width,
            yerr=np.nan_to_num(np.asarray(stds[metric], float)),
            label=metric,
            capsize=2,
        )
    ax.set_xticks(x + width * (len(metrics) - 1) / 2, labels=names, rotation=30, ha="right")
    ax.set(ylim=(0, 1.05), ylabel="score", title=title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, Path(path))
