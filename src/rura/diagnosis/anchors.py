"""A fitted diagnoser's anchors, grouped by cluster: one distance pass gives each row both its
cluster and its disease score.

The anchors (centroids, medoids or, for member-based families, every fitted member) are ordered
so that each cluster's are one block of columns. Each block keeps only each row's ``k`` smallest
distances (``k`` = the neighbours for member-based families, else 1). Everything else is read
from these few columns:

- the cluster: the vote of the ``k`` nearest anchors overall (they are among the blocks'
  ``k`` nearest), or the cluster of the nearest anchor;
- the score, ``d(normal) - d(disease)``: the mean of the ``k`` nearest anchors of each class,
  summed in ascending order (the same sum as a sort of the whole class's distances), or the
  nearest one.

With 500 member anchors, 1,000,000 rows take 11 s on 2 cores where the vote and the class
distances over every column took 21 s (``benchmarks/cluster.py --parts predict``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AnchorGroups:
    """Anchors in blocks by cluster, with what scoring them needs."""

    anchors: np.ndarray
    squares: np.ndarray
    #: The cluster of each block (the anchors' own label, -1 included when a saved model has one).
    labels: np.ndarray
    blocks: tuple[slice, ...]
    #: Whether each block's cluster is mapped to the disease.
    disease: np.ndarray
    neighbours: int
    member_based: bool
    n_clusters: int

    @classmethod
    def of(
        cls,
        anchors: np.ndarray,
        anchor_labels: np.ndarray,
        cluster_is_disease: np.ndarray,
        *,
        member_based: bool,
        neighbours: int,
    ) -> AnchorGroups:
        order = np.argsort(anchor_labels, kind="stable")
        labels, starts, counts = np.unique(
            anchor_labels[order], return_index=True, return_counts=True
        )
        ordered = np.ascontiguousarray(anchors[order], np.float64)
        return cls(
            anchors=ordered,
            squares=row_squares(ordered),
            labels=labels,
            blocks=tuple(slice(int(s), int(s + c)) for s, c in zip(starts, counts, strict=True)),
            disease=np.asarray(cluster_is_disease, bool)[labels],
            neighbours=max(1, neighbours) if member_based else 1,
            member_based=member_based,
            n_clusters=len(cluster_is_disease),
        )

    def clusters_and_scores(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's cluster and disease score, for normalised float64 rows ``X``."""
        nearest = [_smallest(block, self.neighbours) for block in self._block_distances(X)]
        return self._clusters(nearest), self._scores(nearest)

    def _block_distances(self, X: np.ndarray) -> list[np.ndarray]:
        """Euclidean distances to every anchor (one matrix product, updated in place), as a
        view per block."""
        distances = X @ self.anchors.T
        distances *= -2
        distances += row_squares(X)[:, None]
        distances += self.squares[None, :]
        np.maximum(distances, 0.0, out=distances)
        np.sqrt(distances, out=distances)
        return [distances[:, block] for block in self.blocks]

    def _clusters(self, nearest: list[np.ndarray]) -> np.ndarray:
        candidates = np.concatenate(nearest, axis=1)
        if not self.member_based:  # one column per block: its nearest anchor
            return self.labels[candidates.argmin(axis=1)]
        owners = np.repeat(self.labels, [part.shape[1] for part in nearest])
        if candidates.shape[1] > self.neighbours:
            columns = np.argpartition(candidates, self.neighbours - 1, axis=1)
            votes = owners[columns[:, : self.neighbours]]
        else:
            votes = np.broadcast_to(owners, candidates.shape)
        counts = np.stack([(votes == c).sum(axis=1) for c in range(self.n_clusters)], 1)
        return counts.argmax(axis=1)

    def _scores(self, nearest: list[np.ndarray]) -> np.ndarray:
        normal = [part for part, sick in zip(nearest, self.disease, strict=True) if not sick]
        disease = [part for part, sick in zip(nearest, self.disease, strict=True) if sick]
        rows = len(nearest[0])
        return self._class_distance(normal, rows) - self._class_distance(disease, rows)

    def _class_distance(self, parts: list[np.ndarray], rows: int) -> np.ndarray:
        """The mean of the ``k`` smallest of a class's distances (the smallest, ``k`` = 1),
        added in ascending order; infinity for a class without anchors."""
        if not parts:
            return np.full(rows, np.inf)
        if len(parts) > 1:
            parts = [_smallest(np.concatenate(parts, axis=1), self.neighbours)]
        return parts[0].mean(axis=1)


def row_squares(X: np.ndarray) -> np.ndarray:
    """Each row's squared Euclidean length, without an n×d temporary."""
    return np.einsum("ij,ij->i", X, X)


def _smallest(distances: np.ndarray, k: int) -> np.ndarray:
    """Each row's ``k`` smallest values (all of them if fewer), in ascending order."""
    if k == 1:
        return distances.min(axis=1, keepdims=True)
    if k < distances.shape[1]:
        distances = np.partition(distances, k - 1, axis=1)[:, :k]
    return np.sort(distances, axis=1)
