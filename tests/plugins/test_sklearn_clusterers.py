"""The built-in scikit-learn clusterers pass the conformance checks."""

import numpy as np
import pytest

import rura
from rura.plugins import get_registry
from rura.testing import check_clusterer

NAMES = [
    "agg",
    "agglomerative",
    "kmeans",
    "minibatch-kmeans",
    "gmm",
    "birch",
    "spectral",
    "hdbscan",
]


@pytest.mark.filterwarnings("ignore:Graph is not fully connected")  # spectral: separate blobs
@pytest.mark.parametrize("name", NAMES)
def test_clusterer_conforms(name):
    check_clusterer(name)


@pytest.mark.parametrize(
    ("name", "family", "predicts"),
    [("agg", "hierarchical", True), ("spectral", "graph", False), ("hdbscan", "density", False)],
)
def test_registrations_carry_family_and_predicts(name, family, predicts):
    metadata = get_registry().get("clusterer", name).metadata
    assert (metadata["family"], metadata["predicts"]) == (family, predicts)
    assert callable(getattr(rura.create_clusterer(name, 2), "predict", None)) is predicts


def test_agg_is_rura_ward_and_passes_parameters_through():
    from rura.clustering import ScalableAgglomerative

    agg = rura.create_clusterer("agg", 2, seed=3)
    assert isinstance(agg, ScalableAgglomerative)
    assert (agg.linkage, agg.random_state) == ("ward", 3)
    assert rura.create_clusterer("agg", 2, linkage="average").linkage == "average"


def test_kmeans_takes_the_seed():
    assert rura.create_clusterer("kmeans", 5, seed=7).random_state == 7


def test_gmm_gives_probabilities():
    X = np.random.default_rng(0).normal(size=(30, 2))
    gmm = rura.create_clusterer("gmm", 2, seed=0).fit(X)
    assert gmm.predict_proba(X).shape == (30, 2)
    assert np.array_equal(gmm.labels_, gmm.predict(X))


def test_hdbscan_ignores_n_clusters_and_marks_noise():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(20, 2)), rng.normal(size=(20, 2)) + 20, [[100, -100]]])
    labels = rura.create_clusterer("hdbscan", 7).fit(X).labels_
    assert set(labels) == {-1, 0, 1}
