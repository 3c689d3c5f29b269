"""k-medoids on the ``kmedoids`` package (FasterPAM), and a FasterPAM-based CLARA for large n."""

# ruff: noqa: TID253 -- imported inside the medoid factories; the plugin module stays light.

from __future__ import annotations

import kmedoids
import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.metrics import pairwise_distances, pairwise_distances_argmin_min
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

METHODS = ("fasterpam", "fastpam1", "pam", "alternate")
INITS = ("random", "first", "build")


def _solve(
    X: np.ndarray, n_clusters: int, method: str, init: str, max_iter: int, metric: str, seed: int
) -> tuple[np.ndarray, float, int]:
    """Medoid row indices of ``X``, their loss and the swap iterations run (dense distances)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    dissimilarity = pairwise_distances(X, metric=metric)
    solver = getattr(kmedoids, method)
    result = solver(dissimilarity, n_clusters, max_iter=max_iter, init=init, random_state=seed)
    return np.asarray(result.medoids, dtype=np.int64), float(result.loss), int(result.n_iter)


class _MedoidMixin:
    """``predict`` and ``transform`` against the fitted ``cluster_centers_`` (the medoids)."""

    metric: str
    cluster_centers_: np.ndarray

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The index of each row's nearest medoid."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return pairwise_distances_argmin_min(X, self.cluster_centers_, metric=self.metric)[0]

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Distances ``(n, n_clusters)`` from each row to each medoid."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return pairwise_distances(X, self.cluster_centers_, metric=self.metric)


def _check_n_clusters(n_clusters: int, n_samples: int) -> None:
    if not 1 <= n_clusters <= n_samples:
        raise ValueError(f"n_clusters={n_clusters} must be in [1, n_samples={n_samples}]")


class FasterPAM(_MedoidMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """k-medoids with the ``kmedoids`` package: FasterPAM swaps by default, exact PAM on request.

    ``init="build"`` starts from PAM's greedy BUILD; ``method="pam"`` runs the classic (slower)
    PAM swap phase. Memory is one dense n×n float64 matrix.
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        metric: str = "euclidean",
        method: str = "fasterpam",
        init: str = "random",
        max_iter: int = 300,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.metric = metric
        self.method = method
        self.init = init
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: object = None) -> FasterPAM:
        """Choose the medoids; sets ``medoid_indices_``, ``cluster_centers_``, ``labels_``."""
        X = validate_data(self, X, ensure_min_samples=2)
        _check_n_clusters(self.n_clusters, len(X))
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        medoids, loss, n_iter = _solve(
            X, self.n_clusters, self.method, self.init, self.max_iter, self.metric, seed
        )
        self.medoid_indices_ = medoids
        self.cluster_centers_ = X[medoids]
        self.inertia_ = loss
        self.n_iter_ = n_iter
        self.labels_ = self.predict(X)
        return self


class FasterPAMClara(_MedoidMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """CLARA with FasterPAM: medoids of random subsamples, judged on the full data.

    Each of ``n_draws`` subsamples of ``sample_size`` rows (plus the best medoids so far) is
    clustered with FasterPAM; the medoids with the lowest total distance over all rows, computed
    ``chunk_size`` rows at a time, are kept. Memory is O(sample_size² + chunk_size·n_clusters).
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        metric: str = "euclidean",
        sample_size: int = 2000,
        n_draws: int = 5,
        max_iter: int = 300,
        chunk_size: int = 8192,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.metric = metric
        self.sample_size = sample_size
        self.n_draws = n_draws
        self.max_iter = max_iter
        self.chunk_size = chunk_size
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: object = None) -> FasterPAMClara:
        """Choose the medoids; sets ``medoid_indices_``, ``cluster_centers_``, ``labels_``."""
        X = validate_data(self, X, ensure_min_samples=2)
        n = len(X)
        _check_n_clusters(self.n_clusters, n)
        if self.n_draws < 1 or self.sample_size < 1:
            raise ValueError("n_draws and sample_size must be at least 1")
        rng = check_random_state(self.random_state)
        size = min(n, max(self.sample_size, self.n_clusters))
        best: np.ndarray = np.empty(0, dtype=np.int64)
        best_loss = np.inf
        for _ in range(self.n_draws):
            fresh = rng.permutation(n)[: size + len(best)]
            sample = np.concatenate([best, fresh[~np.isin(fresh, best)][: size - len(best)]])
            seed = rng.randint(2**31 - 1)
            medoids, _, n_iter = _solve(
                X[sample], self.n_clusters, "fasterpam", "random", self.max_iter, self.metric, seed
            )
            candidate = np.sort(sample[medoids])
            loss = self._loss(X, X[candidate])
            if loss < best_loss:
                best, best_loss, self.n_iter_ = candidate, loss, n_iter
        self.medoid_indices_ = best
        self.cluster_centers_ = X[best]
        self.inertia_ = best_loss
        self.labels_ = self.predict(X)
        return self

    def _loss(self, X: np.ndarray, centres: np.ndarray) -> float:
        total = 0.0
        for start in range(0, len(X), self.chunk_size):
            chunk = X[start : start + self.chunk_size]
            total += float(pairwise_distances(chunk, centres, metric=self.metric).min(axis=1).sum())
        return total
