"""FasterPAM and the FasterPAM-based CLARA."""

import numpy as np
import pytest

from rura.clustering import FasterPAM, FasterPAMClara

X = np.random.default_rng(0).normal(size=(60, 3))


def test_labels_are_the_nearest_medoid_and_transform_the_medoid_distances():
    model = FasterPAM(4, random_state=0).fit(X)
    assert np.array_equal(model.cluster_centers_, X[model.medoid_indices_])
    assert np.array_equal(model.labels_, model.transform(X).argmin(axis=1))
    assert model.inertia_ == pytest.approx(model.transform(X).min(axis=1).sum())


def test_clara_on_the_whole_data_matches_fasterpam_and_chunking_changes_nothing():
    full = FasterPAMClara(4, sample_size=len(X), n_draws=3, random_state=0).fit(X)
    chunked = FasterPAMClara(4, sample_size=len(X), n_draws=3, chunk_size=7, random_state=0).fit(X)
    assert full.inertia_ == pytest.approx(FasterPAM(4, init="build").fit(X).inertia_, rel=0.02)
    assert np.array_equal(full.medoid_indices_, chunked.medoid_indices_)


def test_clara_keeps_the_best_draw():
    one = FasterPAMClara(4, sample_size=12, n_draws=1, random_state=1).fit(X)
    many = FasterPAMClara(4, sample_size=12, n_draws=8, random_state=1).fit(X)
    assert many.inertia_ <= one.inertia_


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="method"):
        FasterPAM(2, method="magic").fit(X)
