"""Greedy k-centers as a scikit-learn estimator (imported only when the factory runs)."""

# ruff: noqa: TID253 -- this module is the lazy import; the plugin module stays light.

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data


class KCenters(ClusterMixin, BaseEstimator):
    """Farthest-first traversal: each new centre is the point farthest from the chosen ones."""

    def __init__(self, n_clusters: int = 8, random_state: int | None = None) -> None:
        self.n_clusters = n_clusters
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: object = None) -> KCenters:
        """Choose the centres and label every row by its nearest centre."""
        X = validate_data(self, X, dtype=np.float64)
        if not 1 <= self.n_clusters <= len(X):
            raise ValueError(f"n_clusters={self.n_clusters} must be in [1, n_samples={len(X)}]")
        rng = check_random_state(self.random_state)
        chosen = [int(rng.randint(len(X)))]
        distance = np.linalg.norm(X - X[chosen[0]], axis=1)
        for _ in range(1, self.n_clusters):
            chosen.append(int(np.argmax(distance)))
            distance = np.minimum(distance, np.linalg.norm(X - X[chosen[-1]], axis=1))
        self.cluster_centers_ = X[chosen]
        self.labels_ = self._nearest(X)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The nearest centre of each row."""
        check_is_fitted(self)
        return self._nearest(validate_data(self, X, dtype=np.float64, reset=False))

    def _nearest(self, X: np.ndarray) -> np.ndarray:
        distances = np.linalg.norm(X[:, None, :] - self.cluster_centers_[None], axis=2)
        return distances.argmin(axis=1).astype(np.int64)
