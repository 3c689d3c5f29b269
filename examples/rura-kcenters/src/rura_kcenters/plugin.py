"""The plugin module named by the entry point: it registers, and imports nothing heavy."""

from __future__ import annotations

from typing import Any

import rura


def make_kcenters(n_clusters: int, *, seed: int | None = None, **params: Any) -> Any:
    """The rura clusterer factory: ``(n_clusters, *, seed=None, **params)``."""
    from rura_kcenters.estimator import KCenters

    return KCenters(n_clusters=n_clusters, random_state=seed, **params)


@rura.hookimpl
def register_clusterers(register: Any) -> None:
    """Register ``kcenters``."""
    register(
        "kcenters",
        make_kcenters,
        summary="Greedy farthest-first k-centers (example third-party plugin)",
        family="centroid",
        predicts=True,  # the nearest centre
        deterministic=False,  # the first centre is drawn from the seed
    )
