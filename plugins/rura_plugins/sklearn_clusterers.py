"""Clusterers from scikit-learn: k-means and agglomerative (Ward) clustering."""

from __future__ import annotations

from typing import Any

import rura


def make_kmeans(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """scikit-learn's KMeans (k-means++ initialisation, 10 restarts by default)."""
    from sklearn.cluster import KMeans

    params.setdefault("n_init", 10)
    return KMeans(n_clusters=n_clusters, random_state=seed, **params)


def make_agglomerative(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """scikit-learn's AgglomerativeClustering (Ward linkage by default); deterministic."""
    from sklearn.cluster import AgglomerativeClustering

    params.setdefault("linkage", "ward")
    return AgglomerativeClustering(n_clusters=n_clusters, **params)


@rura.hookimpl
def register_clusterers(register: Any) -> None:
    """Register ``kmeans`` and ``agg``."""
    register("kmeans", make_kmeans, summary="k-means (scikit-learn)", family="centroid")
    register(
        "agg",
        make_agglomerative,
        summary="Agglomerative clustering, Ward linkage (scikit-learn)",
        aliases=("agglomerative",),
        family="hierarchical",
    )
