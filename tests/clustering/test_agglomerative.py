"""ScalableAgglomerative: exact while it fits the memory budget, scalable (and saying so) beyond."""

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from rura.clustering import ScalableAgglomerative
from rura.clustering._linkage import weighted_linkage_labels
from rura.clustering.agglomerative import exact_memory_bytes

RNG = np.random.default_rng(0)
X = np.concatenate([RNG.normal(size=(40, 3)) + shift for shift in (0, 8, 16)])


@pytest.mark.parametrize("method", ["ward", "average", "complete", "single"])
def test_exact_path_is_scikit_learns_agglomerative(method):
    ours = ScalableAgglomerative(4, linkage=method).fit(X)
    theirs = AgglomerativeClustering(4, linkage=method).fit(X)
    assert ours.path_ == "exact"
    assert adjusted_rand_score(ours.labels_, theirs.labels_) == 1.0


def test_memory_estimate_is_two_condensed_float64_matrices():
    assert exact_memory_bytes(1000, 512) == 2 * 8 * (1000 * 999 // 2)
    assert exact_memory_bytes(10**6, 4, "single") < 2**30


@pytest.mark.parametrize(("path", "words"), [("kmeans", "MiniBatchKMeans"), ("knn", "neighbour")])
def test_scalable_path_warns_and_names_itself(path, words):
    model = ScalableAgglomerative(3, memory_limit_bytes=1000, scalable_path=path, n_preclusters=30)
    with pytest.warns(UserWarning, match=rf"approximate '{path}' \(.*{words}"):
        model.fit(X)
    assert model.path_ == path
    assert adjusted_rand_score(np.repeat([0, 1, 2], 40), model.labels_) == 1.0


@pytest.mark.parametrize("method", ["ward", "average", "complete", "single"])
def test_weighted_linkage_equals_linkage_of_repeated_points(method):
    points = RNG.normal(size=(25, 2))
    weights = RNG.integers(1, 4, size=25)
    repeated = np.repeat(points, weights, axis=0)
    expected = fcluster(linkage(repeated, method), 5, "maxclust")
    got = np.repeat(weighted_linkage_labels(points, weights, 5, method), weights)
    assert adjusted_rand_score(expected, got) == 1.0


def test_predict_votes_among_fitted_neighbours_and_transform_gives_centroid_distances():
    model = ScalableAgglomerative(3, max_stored=60, random_state=0).fit(X)
    assert model.neighbors_.n_samples_fit_ == 60
    assert np.array_equal(model.predict(X[::10]), model.labels_[::10])
    distances = model.transform(X)
    assert distances.shape == (len(X), 3)
    assert np.array_equal(distances.argmin(axis=1), model.labels_)


def test_kmeans_path_learns_centroids_on_a_sample_and_assigns_every_row(monkeypatch):
    from sklearn.cluster import MiniBatchKMeans

    from rura.clustering import agglomerative

    fitted_rows = []

    class Recording(MiniBatchKMeans):
        def fit(self, X, y=None, sample_weight=None):
            fitted_rows.append(len(X))
            return super().fit(X, y, sample_weight)

    monkeypatch.setattr(agglomerative, "MiniBatchKMeans", Recording)
    truth = np.repeat([0, 1, 2], 40)
    common = {"memory_limit_bytes": 0, "n_preclusters": 20, "random_state": 0}
    with pytest.warns(UserWarning):
        sampled = ScalableAgglomerative(3, precluster_fit_rows=50, **common).fit(X)
        every = ScalableAgglomerative(3, precluster_fit_rows=None, **common).fit(X)
    assert fitted_rows == [50, len(X)]
    assert adjusted_rand_score(truth, sampled.labels_) == 1.0
    assert adjusted_rand_score(truth, every.labels_) == 1.0


def test_cluster_means_in_chunks_equal_each_clusters_mean():
    from rura.clustering.agglomerative import cluster_means

    labels = np.r_[np.repeat([7, 2, 5], 40)]
    means = cluster_means(X.astype(np.float32), labels, chunk_rows=9)
    expected = np.stack([X[labels == k].mean(axis=0) for k in (2, 5, 7)])
    assert means.dtype == np.float32
    np.testing.assert_allclose(means, expected, rtol=1e-6, atol=1e-6)


def test_float16_rows_are_clustered_as_float32_without_a_float64_copy():
    model = ScalableAgglomerative(3).fit(X.astype(np.float16))
    assert model.cluster_centers_.dtype == np.float32
    assert adjusted_rand_score(np.repeat([0, 1, 2], 40), model.labels_) == 1.0
