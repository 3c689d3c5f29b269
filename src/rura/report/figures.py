"""The report's PNGs, drawn with :mod:`rura.evaluation.plots` (Agg backend) from a run's files."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rura.evaluation.plots import new_figure, save_figure
from rura.io import atomic_path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DENDROGRAM_LEAVES = 200
NOISE_COLOUR = "#9e9e9e"
TRUTH_COLOURS = ("#4c72b0", "#dd8452")


def is_png(path: Path) -> bool:
    """Whether ``path`` is a file that starts like a PNG."""
    try:
        with path.open("rb") as handle:
            return handle.read(8) == PNG_SIGNATURE
    except OSError:
        return False


def copy_png(source: Path, path: Path) -> Path | None:
    """Copy a PNG into the report's folder atomically; None when ``source`` is not a PNG."""
    if not is_png(source):
        return None
    with atomic_path(path) as temporary:
        shutil.copyfile(source, temporary)
    return path


def cluster_colour(cluster: int) -> str:
    """A fixed colour per cluster id (tab10 order); noise (-1) is grey."""
    palette = (
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    )  # fmt: skip
    return NOISE_COLOUR if cluster < 0 else palette[cluster % len(palette)]


def pca_2d(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first two principal components (signs fixed: deterministic) and their variance share."""
    X = np.asarray(features, np.float64)
    X = X - X.mean(axis=0)
    _, singular, components = np.linalg.svd(X, full_matrices=False)
    components = components[:2]
    if len(components) < 2:
        components = np.vstack([components, np.zeros((2 - len(components), X.shape[1]))])
    signs = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    total = float((singular**2).sum())
    share = (singular[:2] ** 2) / total if total else np.zeros(2)
    return X @ components.T, np.pad(share, (0, 2 - len(share)))


def plot_feature_map(
    points: np.ndarray,
    clusters: np.ndarray,
    truth: np.ndarray,
    path: Path,
    *,
    cluster_names: dict[int, str],
    truth_names: Sequence[str],
    share: np.ndarray,
) -> Path:
    """Two panels of the same 2-D points: coloured by cluster, and by the true label."""
    fig, axes = new_figure(ncols=2, figsize=(10, 4.4), sharex=True, sharey=True)
    size = 28 if len(points) <= 300 else 10
    for cluster in sorted(set(clusters.tolist())):
        chosen = clusters == cluster
        axes[0].scatter(
            *points[chosen].T,
            s=size,
            c=cluster_colour(cluster),
            label=cluster_names.get(cluster, f"cluster {cluster}"),
            alpha=0.8,
            edgecolors="none",
        )
    for value, name in enumerate(truth_names):
        chosen = truth == value
        if chosen.any():
            axes[1].scatter(
                *points[chosen].T, s=size, c=TRUTH_COLOURS[value], label=name, alpha=0.8,
                edgecolors="none",
            )  # fmt: skip
    axes[0].set_title("by cluster (what the diagnoser found)")
    axes[1].set_title("by truth (display only)")
    for ax in axes:
        ax.set_xlabel(f"PC 1 ({share[0]:.0%} of variance)")
        ax.legend(fontsize=8, loc="best")
    axes[0].set_ylabel(f"PC 2 ({share[1]:.0%} of variance)")
    return save_figure(fig, path)


def plot_dendrogram(
    features: np.ndarray, clusters: np.ndarray, path: Path, *, seed: int = 0
) -> tuple[Path, int]:
    """Ward dendrogram of at most :data:`DENDROGRAM_LEAVES` rows; leaves named by cluster.

    Returns the path and the number of leaves drawn (a fixed-seed subsample when larger).
    """
    from scipy.cluster.hierarchy import dendrogram, linkage

    rows = np.arange(len(features))
    if len(rows) > DENDROGRAM_LEAVES:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(rows, DENDROGRAM_LEAVES, replace=False))
    X = np.asarray(features, np.float64)[rows]
    leaves = np.asarray(clusters)[rows]
    tree = linkage(X, "ward")
    fig, ax = new_figure(figsize=(max(6.0, 0.06 * len(rows) + 3), 4))
    dendrogram(
        tree,
        ax=ax,
        labels=[str(int(c)) for c in leaves],
        leaf_font_size=7 if len(rows) <= 60 else 5,
        leaf_rotation=90,
        link_color_func=lambda _: "#555555",
    )
    for label in ax.get_xticklabels():
        label.set_color(cluster_colour(int(label.get_text())))
    ax.set(ylabel="Ward distance", xlabel="leaves (cluster of each fit image)")
    ax.set_title(f"Ward dendrogram of {len(rows)} fit images", fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return save_figure(fig, path), len(rows)


def roc_points(truth: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, tpr)`` of every distinct threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-score, kind="mergesort")
    score, truth = score[order], truth[order].astype(bool)
    last = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(truth)[last]
    fps = last + 1 - tps
    return np.r_[0.0, fps / max(fps[-1], 1)], np.r_[0.0, tps / max(tps[-1], 1)]


def plot_rocs(curves: dict[int, tuple[np.ndarray, np.ndarray, float]], path: Path) -> Path:
    """One ROC curve per seed: ``{seed: (truth, score, auc)}``."""
    fig, ax = new_figure(figsize=(4.8, 4.5))
    for seed, (truth, score, auc) in curves.items():
        fpr, tpr = roc_points(truth, score)
        ax.plot(fpr, tpr, lw=1.8, drawstyle="default", label=f"seed {seed}: AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title("ROC on the evaluation set", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def plot_overlays(images: list[tuple[Path, str]], path: Path) -> Path:
    """A row of segmentation overlays, each titled with its image name."""
    from PIL import Image

    fig, axes = new_figure(ncols=len(images), figsize=(2.4 * len(images), 2.8), squeeze=False)
    for ax, (source, name) in zip(axes[0], images, strict=True):
        with Image.open(source) as image:
            ax.imshow(np.asarray(image.convert("RGB")))
        ax.set_title(name if len(name) <= 22 else name[:20] + "…", fontsize=8)
        ax.axis("off")
    return save_figure(fig, path)
