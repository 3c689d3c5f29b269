"""A Gaussian mixture with the clusterer contract's ``labels_``."""

# ruff: noqa: TID253 -- imported inside the `gmm` factory; the plugin module stays light.

from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture


class GaussianMixtureClustering(GaussianMixture):
    """scikit-learn's ``GaussianMixture`` whose ``fit`` also sets ``labels_`` (the MAP component).

    ``predict_proba`` gives the soft assignments.
    """

    def fit(self, X: np.ndarray, y: object = None) -> GaussianMixtureClustering:
        """Fit the mixture; ``labels_`` is each row's most probable component."""
        self.labels_ = np.asarray(self.fit_predict(X, y), dtype=np.int64)
        return self
