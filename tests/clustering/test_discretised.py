"""DiscretisedKModes: quantile bins learned in fit, reused by predict."""

import numpy as np
import pytest

from rura.clustering import DiscretisedKModes

X = np.random.default_rng(0).normal(size=(50, 3)) * [1.0, 10.0, 0.0]  # last feature constant


def test_bin_edges_are_quantiles_of_the_standardised_features():
    model = DiscretisedKModes(2, n_bins=4, n_init=1, random_state=0).fit(X)
    assert model.bin_edges_.shape == (3, 3)
    standardised = (X[:, 0] - X[:, 0].mean()) / X[:, 0].std()
    assert np.allclose(model.bin_edges_[0], np.quantile(standardised, [0.25, 0.5, 0.75]))
    codes = model._discretise(X)
    assert codes.min() == 0 and codes.max() == 3
    assert np.array_equal(np.bincount(codes[:, 0]), [13, 12, 12, 13])


def test_predict_bins_with_the_fitted_edges():
    model = DiscretisedKModes(3, random_state=0).fit(X)
    assert np.array_equal(model.predict(X), model.labels_)
    assert model.predict(X[:1] + 1e6).shape == (1,)  # beyond the fitted range: the top bin


def test_too_few_bins_is_an_error():
    with pytest.raises(ValueError, match="n_bins"):
        DiscretisedKModes(2, n_bins=1).fit(X)
