"""rura's own scikit-learn clustering estimators (RURA-Net's last stage).

The classes are imported lazily, so ``import rura.clustering`` loads neither scikit-learn nor the
k-medoids and k-modes libraries until a class is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rura.clustering.agglomerative import ScalableAgglomerative
    from rura.clustering.discretised import DiscretisedKModes
    from rura.clustering.medoids import FasterPAM, FasterPAMClara
    from rura.clustering.mixture import GaussianMixtureClustering

_HOMES = {
    "ScalableAgglomerative": "rura.clustering.agglomerative",
    "DiscretisedKModes": "rura.clustering.discretised",
    "FasterPAM": "rura.clustering.medoids",
    "FasterPAMClara": "rura.clustering.medoids",
    "GaussianMixtureClustering": "rura.clustering.mixture",
}

__all__ = [
    "DiscretisedKModes",
    "FasterPAM",
    "FasterPAMClara",
    "GaussianMixtureClustering",
    "ScalableAgglomerative",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
