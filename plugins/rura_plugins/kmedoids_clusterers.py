"""k-medoids clusterers on the ``kmedoids`` package (FasterPAM, PAM, and a FasterPAM CLARA)."""

from __future__ import annotations

from typing import Any

import rura


def make_pam(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """PAM's BUILD initialisation, then FasterPAM swaps (``method="pam"`` for classic PAM swaps)."""
    from rura.clustering import FasterPAM

    params.setdefault("init", "build")
    return FasterPAM(n_clusters=n_clusters, random_state=seed, **params)


def make_kmedoids(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """FasterPAM from a random initialisation."""
    from rura.clustering import FasterPAM

    params.setdefault("init", "random")
    return FasterPAM(n_clusters=n_clusters, random_state=seed, **params)


def make_clara_fasterpam(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """CLARA with FasterPAM on each subsample, for large n."""
    from rura.clustering import FasterPAMClara

    return FasterPAMClara(n_clusters=n_clusters, random_state=seed, **params)


@rura.hookimpl
def register_clusterers(register: Any) -> None:
    """Register ``pam``, ``kmedoids`` and ``clara-fasterpam``."""
    # FasterPAM visits the points in an order shuffled by the seed, even after BUILD.
    common = {"family": "medoid", "predicts": True, "library": "kmedoids", "deterministic": False}
    register("pam", make_pam, summary="k-medoids: BUILD + FasterPAM swaps (kmedoids)", **common)
    register("kmedoids", make_kmedoids, summary="k-medoids: FasterPAM (kmedoids)", **common)
    register(
        "clara-fasterpam",
        make_clara_fasterpam,
        summary="CLARA for large n: FasterPAM on subsamples (kmedoids)",
        **common,
    )
