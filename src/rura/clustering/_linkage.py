"""Weighted agglomerative linkage on a few thousand points (nearest-neighbour chain)."""

# ruff: noqa: TID253 -- imported only by rura.clustering's estimators, never at start-up.

from __future__ import annotations

import numpy as np
from sklearn.metrics import euclidean_distances

LINKAGES = ("ward", "average", "complete", "single")


def _initial_distances(points: np.ndarray, weights: np.ndarray, linkage: str) -> np.ndarray:
    if linkage == "ward":
        # Ward's merge cost of two point masses, doubled to equal the squared distance for n=1.
        squared = euclidean_distances(points, squared=True)
        return 2.0 * np.outer(weights, weights) / np.add.outer(weights, weights) * squared
    return euclidean_distances(points)


def _lance_williams(
    linkage: str, d_ki: np.ndarray, d_kj: np.ndarray, d_ij: float, size: np.ndarray, i: int, j: int
) -> np.ndarray:
    n_i, n_j = size[i], size[j]
    if linkage == "ward":
        return ((n_i + size) * d_ki + (n_j + size) * d_kj - size * d_ij) / (n_i + n_j + size)
    if linkage == "average":
        return (n_i * d_ki + n_j * d_kj) / (n_i + n_j)
    return np.maximum(d_ki, d_kj) if linkage == "complete" else np.minimum(d_ki, d_kj)


def weighted_linkage_labels(
    points: np.ndarray, weights: np.ndarray, n_clusters: int, linkage: str = "ward"
) -> np.ndarray:
    """Cut the ``linkage`` tree of weighted ``points`` into ``n_clusters``; one label per point.

    Each point stands for ``weights[i]`` samples at that position, so Ward's criterion is the
    increase in within-cluster sum of squares of those samples and average linkage weighs each
    point by its size. Memory is O(m²) for m points.
    """
    if linkage not in LINKAGES:
        raise ValueError(f"linkage must be one of {LINKAGES}, got {linkage!r}")
    m = len(points)
    size = np.asarray(weights, dtype=np.float64).copy()
    dist = _initial_distances(np.asarray(points, dtype=np.float64), size, linkage)
    np.fill_diagonal(dist, np.inf)
    active = np.ones(m, dtype=bool)
    merges: list[tuple[float, int, int]] = []
    chain: list[int] = []
    for _ in range(m - 1):
        while True:
            if not chain:
                chain.append(int(np.flatnonzero(active)[0]))
            a = chain[-1]
            b = int(np.argmin(dist[a]))
            if len(chain) > 1 and dist[a, chain[-2]] <= dist[a, b]:
                b = chain[-2]  # ties go to the chain's predecessor, so the chain always ends
            if len(chain) > 1 and b == chain[-2]:
                break
            chain.append(b)
        chain = chain[:-2]
        i, j = min(a, b), max(a, b)
        merges.append((float(dist[i, j]), i, j))
        row = _lance_williams(linkage, dist[:, i], dist[:, j], dist[i, j], size, i, j)
        active[j] = False
        row[~active] = np.inf
        dist[i, :] = row
        dist[:, i] = row
        dist[j, :] = np.inf
        dist[:, j] = np.inf
        dist[i, i] = np.inf
        size[i] += size[j]
    return _cut(m, merges, n_clusters)


def _cut(m: int, merges: list[tuple[float, int, int]], n_clusters: int) -> np.ndarray:
    parent = np.arange(m)

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = int(parent[x])
        return x

    order = sorted(range(len(merges)), key=lambda index: merges[index][0])
    for index in order[: max(m - n_clusters, 0)]:
        _, i, j = merges[index]
        parent[root(j)] = root(i)
    roots = np.array([root(x) for x in range(m)])
    _, labels = np.unique(roots, return_inverse=True)
    return labels.astype(np.int64)
