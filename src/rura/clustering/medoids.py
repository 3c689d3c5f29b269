"""k-medoids on the ``kmedoids`` package (FasterPAM), and a FasterPAM-based CLARA for large n.

The dissimilarity matrix and PAM's BUILD are computed here, not by the package: Euclidean
distances in float32 from one matrix product, and BUILD vectorised over blocks of candidate rows
(at 5,000 × 512, of a 3.5 s fit, the package's BUILD took 1.2–1.5 s and scikit-learn's float64
``pairwise_distances`` 0.8 s; here 0.2–0.3 s each). The swap phase runs single-threaded: the
package's parallel FasterPAM was slower on two cores, and its result depends on the thread count.
"""

# ruff: noqa: TID253 -- imported inside the medoid factories; the plugin module stays light.

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import kmedoids
import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.metrics import pairwise_distances, pairwise_distances_argmin_min
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

METHODS = ("fasterpam", "fastpam1", "pam", "alternate")
INITS = ("random", "first", "build")
#: Rows of the n×n matrix one thread works on at a time (256 rows of 5,000 floats: 5 MB).
_BLOCK_ROWS = 256
#: Below this many rows the matrix is small enough for one thread (threads cost more).
_THREADED_ROWS = 2048


def _row_pool(n: int) -> ThreadPoolExecutor | None:
    """A few threads for the row blocks of an n-row matrix (numpy frees the GIL), or None."""
    threads = min(os.cpu_count() or 1, 8)
    return ThreadPoolExecutor(threads) if n >= _THREADED_ROWS and threads > 1 else None


def _in_row_blocks(work: Callable[[slice], None], n: int, pool: ThreadPoolExecutor | None) -> None:
    """Call ``work`` on each row block of an n-row matrix, on ``pool`` if there is one."""
    blocks = [slice(start, min(start + _BLOCK_ROWS, n)) for start in range(0, n, _BLOCK_ROWS)]
    if pool is None:
        for rows in blocks:
            work(rows)
    else:
        list(pool.map(work, blocks))


def euclidean_matrix(X: np.ndarray) -> np.ndarray:
    """The n×n float32 Euclidean distances between the rows of ``X``.

    ``‖x − y‖² = ‖x‖² + ‖y‖² − 2·x·y`` on rows centred on their mean (less cancellation), with
    one float32 matrix product and in-place updates by row block; the diagonal is 0.
    """
    Z = np.asarray(X, np.float32)
    Z = Z - Z.mean(axis=0, dtype=np.float64).astype(np.float32)
    squared = np.einsum("ij,ij->i", Z, Z)
    D = Z @ Z.T

    def finish(rows: slice) -> None:
        block = D[rows]
        block *= -2
        block += squared[rows, None]
        block += squared[None, :]
        np.maximum(block, 0, out=block)
        np.sqrt(block, out=block)

    pool = _row_pool(len(D))
    try:
        _in_row_blocks(finish, len(D), pool)
    finally:
        if pool is not None:
            pool.shutdown()
    np.fill_diagonal(D, 0)
    return D


def build_medoids(D: np.ndarray, n_clusters: int) -> np.ndarray:
    """PAM's greedy BUILD on the dissimilarity matrix ``D``: the row with the least total
    distance, then, ``n_clusters − 1`` times, the row whose addition lowers the total distance
    to the nearest medoid most (the first such row on ties)."""
    n = len(D)
    medoids = [int(np.argmin(D.sum(axis=1)))]
    nearest = np.array(D[medoids[0]])
    gain = np.empty(n, np.float64)

    def gains(rows: slice) -> None:
        block = nearest[None, :] - D[rows]
        np.maximum(block, 0, out=block)
        gain[rows] = block.sum(axis=1)

    pool = _row_pool(n)
    try:
        for _ in range(n_clusters - 1):
            _in_row_blocks(gains, n, pool)
            gain[medoids] = -np.inf
            medoids.append(int(np.argmax(gain)))
            np.minimum(nearest, D[medoids[-1]], out=nearest)
    finally:
        if pool is not None:
            pool.shutdown()
    return np.array(medoids, dtype=np.int64)


def dissimilarities(X: np.ndarray, metric: str) -> np.ndarray:
    """The n×n dissimilarity matrix the solvers read: float32 Euclidean, else scikit-learn's."""
    if metric == "euclidean":
        return euclidean_matrix(X)
    return pairwise_distances(X, metric=metric)


def _solve(
    X: np.ndarray, n_clusters: int, method: str, init: str, max_iter: int, metric: str, seed: int
) -> tuple[np.ndarray, int]:
    """Medoid row indices of ``X`` and the swap iterations run (dense distances)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    D = dissimilarities(X, metric)
    if init == "build":
        start = build_medoids(D, n_clusters)
    elif init == "first":
        start = np.arange(n_clusters)
    else:  # as the package draws them
        start = np.random.RandomState(seed).choice(len(D), n_clusters, replace=False)
    start = start.astype(np.uintp)
    if method == "fasterpam":  # the seed shuffles the visiting order; one thread
        with warnings.catch_warnings():  # "seed ignored": it is not, it orders the visits
            warnings.filterwarnings("ignore", message="Seed will be ignored")
            result = kmedoids.fasterpam(D, start, max_iter=max_iter, random_state=seed, n_cpu=1)
    else:
        solver = kmedoids.alternating if method == "alternate" else getattr(kmedoids, method)
        result = solver(D, start, max_iter=max_iter)
    return np.asarray(result.medoids, dtype=np.int64), int(result.n_iter)


def _nearest(X: np.ndarray, centres: np.ndarray, metric: str) -> tuple[np.ndarray, float]:
    """Each row's nearest centre and the total distance to it (accumulated in float64)."""
    labels, distances = pairwise_distances_argmin_min(X, centres, metric=metric)
    return labels, float(np.sum(distances, dtype=np.float64))


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
    PAM swap phase. Memory is one dense n×n matrix: float32 for the Euclidean metric, float64
    for the others. ``inertia_`` is the total distance to the nearest medoid, in float64.
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
        medoids, n_iter = _solve(
            X, self.n_clusters, self.method, self.init, self.max_iter, self.metric, seed
        )
        self.medoid_indices_ = medoids
        self.cluster_centers_ = X[medoids]
        self.labels_, self.inertia_ = _nearest(X, self.cluster_centers_, self.metric)
        self.n_iter_ = n_iter
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
            medoids, n_iter = _solve(
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
