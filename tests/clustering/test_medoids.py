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


def test_float32_distance_matrix_matches_scikit_learns():
    from sklearn.metrics import pairwise_distances

    from rura.clustering.medoids import euclidean_matrix

    points = np.random.default_rng(1).normal(5, 2, size=(300, 16))
    ours = euclidean_matrix(points)
    assert ours.dtype == np.float32 and np.all(np.diag(ours) == 0)
    np.testing.assert_allclose(ours, pairwise_distances(points), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n", [200, 2500])  # 2500 rows: the threaded row blocks
def test_build_picks_the_kmedoids_packages_build_medoids(n):
    import kmedoids

    from rura.clustering.medoids import build_medoids, euclidean_matrix

    D = euclidean_matrix(np.random.default_rng(n).normal(size=(n, 8)))
    ours = build_medoids(D, 6)
    assert list(ours) == [int(m) for m in kmedoids.pam_build(D, 6).medoids]


def test_pam_reaches_the_loss_of_classic_pam_and_its_inertia_is_the_float64_loss():
    import kmedoids
    from sklearn.datasets import make_blobs
    from sklearn.metrics import pairwise_distances

    points, _ = make_blobs(400, 8, centers=5, cluster_std=2.0, random_state=3)
    classic = kmedoids.pam(pairwise_distances(points), 5, init="build")  # float64, best swap
    faster = FasterPAM(5, init="build", random_state=0).fit(points)
    exact_swaps = FasterPAM(5, init="build", method="pam").fit(points)
    for model in (faster, exact_swaps):
        assert model.inertia_ == pytest.approx(classic.loss, rel=1e-6)
        assert model.inertia_ == pytest.approx(model.transform(points).min(axis=1).sum())
    assert sorted(exact_swaps.medoid_indices_) == sorted(int(m) for m in classic.medoids)


@pytest.mark.parametrize("method", ["fasterpam", "fastpam1", "pam", "alternate"])
def test_every_swap_method_runs_and_a_seed_repeats_its_medoids(method):
    first = FasterPAM(4, method=method, random_state=5).fit(X)
    again = FasterPAM(4, method=method, random_state=5).fit(X)
    assert np.array_equal(first.medoid_indices_, again.medoid_indices_)
    assert len(set(first.medoid_indices_)) == 4


def test_another_metric_uses_scikit_learns_distances():
    model = FasterPAM(3, metric="manhattan", init="build").fit(X)
    assert model.inertia_ == pytest.approx(model.transform(X).min(axis=1).sum())
