"""Clusterers on scikit-learn: agglomerative, k-means, mixtures, BIRCH, spectral and HDBSCAN."""

from __future__ import annotations

from typing import Any

import rura


def make_agglomerative(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """rura's ScalableAgglomerative: exact while it fits ``memory_limit_bytes``, else scalable."""
    from rura.clustering import ScalableAgglomerative

    return ScalableAgglomerative(n_clusters=n_clusters, random_state=seed, **params)


def make_kmeans(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """scikit-learn's KMeans (k-means++ initialisation, 10 restarts by default)."""
    from sklearn.cluster import KMeans

    params.setdefault("n_init", 10)
    return KMeans(n_clusters=n_clusters, random_state=seed, **params)


def make_minibatch_kmeans(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """scikit-learn's MiniBatchKMeans (3 restarts by default)."""
    from sklearn.cluster import MiniBatchKMeans

    params.setdefault("n_init", 3)
    return MiniBatchKMeans(n_clusters=n_clusters, random_state=seed, **params)


def make_gmm(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """A GaussianMixture of ``n_clusters`` components; ``labels_`` are the MAP components."""
    from rura.clustering import GaussianMixtureClustering

    return GaussianMixtureClustering(n_components=n_clusters, random_state=seed, **params)


def make_birch(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """scikit-learn's Birch, its subclusters merged into ``n_clusters``; deterministic."""
    from sklearn.cluster import Birch

    return Birch(n_clusters=n_clusters, **params)


def make_spectral(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """scikit-learn's SpectralClustering on a nearest-neighbour graph; ``seed`` fixes it."""
    from sklearn.cluster import SpectralClustering

    params.setdefault("affinity", "nearest_neighbors")
    return SpectralClustering(n_clusters=n_clusters, random_state=seed, **params)


def make_hdbscan(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """scikit-learn's HDBSCAN: ``n_clusters`` is ignored (HDBSCAN finds the number); noise is -1."""
    from sklearn.cluster import HDBSCAN

    params.setdefault("min_cluster_size", 5)
    params.setdefault("copy", True)
    return HDBSCAN(**params)


@rura.hookimpl
def register_clusterers(register: Any) -> None:
    """Register agg, kmeans, minibatch-kmeans, gmm, birch, spectral and hdbscan."""
    library = "scikit-learn"
    register(
        "agg",
        make_agglomerative,
        summary="Agglomerative clustering, Ward linkage; scalable beyond a memory budget (rura)",
        aliases=("agglomerative",),
        family="hierarchical",
        predicts=True,
        library="rura",
        # Exact Ward linkage reads no seed. Beyond memory_limit_bytes (about 23,000 rows at
        # 4 GiB) the scalable path's MiniBatchKMeans pre-clustering does.
        deterministic=True,
    )
    register(
        "kmeans",
        make_kmeans,
        summary="k-means (scikit-learn)",
        family="centroid",
        predicts=True,
        library=library,
        deterministic=False,
    )
    register(
        "minibatch-kmeans",
        make_minibatch_kmeans,
        summary="Mini-batch k-means (scikit-learn)",
        family="centroid",
        predicts=True,
        library=library,
        deterministic=False,
    )
    register(
        "gmm",
        make_gmm,
        summary="Gaussian mixture, full covariances (scikit-learn)",
        family="model",
        predicts=True,
        library=library,
        deterministic=False,
    )
    register(
        "birch",
        make_birch,
        summary="BIRCH (scikit-learn)",
        family="hierarchical",
        predicts=True,
        library=library,
        deterministic=True,
    )
    register(
        "spectral",
        make_spectral,
        summary="Spectral clustering on a nearest-neighbour graph (scikit-learn)",
        family="graph",
        predicts=False,
        library=library,
        deterministic=False,
    )
    register(
        "hdbscan",
        make_hdbscan,
        summary="HDBSCAN; finds the number of clusters itself, noise is -1 (scikit-learn)",
        family="density",
        predicts=False,
        library=library,
        deterministic=True,
    )
