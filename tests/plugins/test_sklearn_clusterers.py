"""The built-in scikit-learn clusterers pass the conformance checks."""

import pytest

import rura
from rura.testing import check_clusterer


@pytest.mark.parametrize("name", ["kmeans", "agg", "agglomerative"])
def test_clusterer_conforms(name):
    check_clusterer(name)


def test_agg_defaults_to_ward_and_passes_parameters_through():
    assert rura.create_clusterer("agg", 2).linkage == "ward"
    assert rura.create_clusterer("agg", 2, linkage="average").linkage == "average"


def test_kmeans_takes_the_seed():
    assert rura.create_clusterer("kmeans", 5, seed=7).random_state == 7
