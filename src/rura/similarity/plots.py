"""The class-by-class similarity heatmap."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rura.evaluation.plots import new_figure, save_figure


def plot_similarity_matrix(
    classes: Sequence[str], matrix: np.ndarray, path: str | Path, *, title: str = "Similarity"
) -> Path:
    """Mean same-disease probability between every two classes, the values written in cells."""
    n = len(classes)
    fig, ax = new_figure(figsize=(1.0 + 0.62 * n, 0.6 + 0.55 * n))
    image = ax.imshow(matrix, cmap="viridis", vmin=0.0, vmax=1.0)
    for (i, j), value in np.ndenumerate(matrix):
        colour = "black" if value > 0.6 else "white"
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", color=colour, fontsize=7)
    labels = [c.replace("_", " ") for c in classes]
    ax.set_xticks(range(n), labels=labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels=labels, fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="mean pair probability")
    return save_figure(fig, Path(path))
