"""k-medoids clusterers from the optional scikit-learn-extra: PAM and CLARA."""

from __future__ import annotations

from typing import Any

import rura

INSTALL_HINT = "scikit-learn-extra is not installed: pip install 'rura[extra]'"


def _cluster_module() -> Any:
    try:
        from sklearn_extra import cluster
    except ImportError as error:
        raise rura.RuraError(INSTALL_HINT) from error
    return cluster


def make_pam_skx(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """scikit-learn-extra's KMedoids with ``method="pam"`` and BUILD initialisation."""
    params.setdefault("method", "pam")
    params.setdefault("init", "build")
    return _cluster_module().KMedoids(n_clusters=n_clusters, random_state=seed, **params)


def make_clara(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """scikit-learn-extra's CLARA (PAM on subsamples)."""
    return _cluster_module().CLARA(n_clusters=n_clusters, random_state=seed, **params)


@rura.hookimpl
def register_clusterers(register: Any) -> None:
    """Register ``pam-skx`` and ``clara``."""
    common = {"family": "medoid", "predicts": True, "library": "scikit-learn-extra"}
    register(
        "pam-skx",
        make_pam_skx,
        summary="k-medoids: PAM (scikit-learn-extra)",
        deterministic=True,  # BUILD, then PAM's best swap: no draw (init="random" would read it)
        **common,
    )
    register(
        "clara",
        make_clara,
        summary="CLARA (scikit-learn-extra)",
        deterministic=False,  # random subsamples
        **common,
    )
