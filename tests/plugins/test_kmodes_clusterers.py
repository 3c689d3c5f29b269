"""k-modes on quantile-binned features."""

import pytest

import rura
from rura.plugins import get_plugin_manager, get_registry
from rura.testing import check_clusterer
from rura_plugins import kmodes_clusterers


@pytest.fixture(autouse=True)
def registry(rura_plugin):
    """The registry with this plugin, whether or not its entry point is installed yet."""
    if get_plugin_manager().is_registered(kmodes_clusterers):
        return get_registry()
    return rura_plugin(kmodes_clusterers, name="kmodes-clusterers")


def test_kmodes_conforms():
    # Five quantile bins cut through each of the check's three 20-point blobs, so points tie
    # between two modes and about 3 of 60 land in the wrong blob (adjusted Rand 0.81-0.86).
    check_clusterer("kmodes", min_adjusted_rand=0.8)


def test_kmodes_recovers_the_blobs_with_one_bin_per_blob():
    check_clusterer("kmodes", params={"n_bins": 3})


def test_kmodes_defaults(registry):
    estimator = rura.create_clusterer("kmodes", 4, seed=1)
    assert (estimator.n_bins, estimator.random_state) == (5, 1)
    assert registry.get("clusterer", "kmodes").metadata["predicts"] is True
