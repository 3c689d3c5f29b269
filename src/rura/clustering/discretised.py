"""k-modes on continuous features binned into per-feature quantiles."""

# ruff: noqa: TID253 -- imported inside the `kmodes` factory; the plugin module stays light.

from __future__ import annotations

import numpy as np
from kmodes.kmodes import KModes
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data


class DiscretisedKModes(ClusterMixin, BaseEstimator):
    """k-modes (Huang initialisation) on features cut into ``n_bins`` quantile bins.

    ``fit`` standardises each feature (mean 0, standard deviation 1; constant features keep scale
    1) and stores, per feature, the ``n_bins - 1`` inner edges at the quantiles ``i / n_bins`` of
    the standardised values in ``bin_edges_``. A value's category is the number of edges at or
    below it (0 … ``n_bins - 1``); ``predict`` bins new rows with the same edges.
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        n_bins: int = 5,
        n_init: int = 10,
        max_iter: int = 100,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.n_bins = n_bins
        self.n_init = n_init
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: object = None) -> DiscretisedKModes:
        """Learn the bin edges and the modes; sets ``labels_`` and ``cluster_centers_``."""
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        if not 1 <= self.n_clusters <= len(X):
            raise ValueError(f"n_clusters={self.n_clusters} must be in [1, n_samples={len(X)}]")
        if self.n_bins < 2:
            raise ValueError(f"n_bins={self.n_bins} must be at least 2")
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        quantiles = np.arange(1, self.n_bins) / self.n_bins
        self.bin_edges_ = np.quantile(self._standardise(X), quantiles, axis=0).T
        codes = self._discretise(X)
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        self.kmodes_ = KModes(
            n_clusters=self.n_clusters,
            init="Huang",
            n_init=self.n_init,
            max_iter=self.max_iter,
            random_state=seed,
        ).fit(codes)
        # kmodes leaves labels_ unset when there are no more distinct rows than clusters
        self.labels_ = self.kmodes_.predict(codes).astype(np.int64)
        self.cluster_centers_ = np.asarray(self.kmodes_.cluster_centroids_)
        self.n_iter_ = int(self.kmodes_.n_iter_)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The nearest mode (fewest mismatching bins) of each row, binned with the fitted edges."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.kmodes_.predict(self._discretise(X)).astype(np.int64)

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_) / self.scale_

    def _discretise(self, X: np.ndarray) -> np.ndarray:
        Z = self._standardise(X)
        columns = zip(self.bin_edges_, Z.T, strict=True)
        codes = [np.searchsorted(edges, z, side="right") for edges, z in columns]
        return np.stack(codes, axis=1).astype(np.int64)
