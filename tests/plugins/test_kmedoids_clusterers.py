"""The k-medoids clusterers on the kmedoids package (FasterPAM)."""

import kmedoids
import numpy as np
import pytest
from sklearn.metrics import pairwise_distances

import rura
from rura.plugins import get_plugin_manager, get_registry
from rura.testing import check_clusterer
from rura_plugins import kmedoids_clusterers


@pytest.fixture(autouse=True)
def registry(rura_plugin):
    """The registry with this plugin, whether or not its entry point is installed yet."""
    if get_plugin_manager().is_registered(kmedoids_clusterers):
        return get_registry()
    return rura_plugin(kmedoids_clusterers, name="kmedoids-clusterers")


@pytest.mark.parametrize("name", ["pam", "kmedoids", "clara-fasterpam"])
def test_clusterer_conforms(name, registry):
    check_clusterer(name)
    assert registry.get("clusterer", name).metadata["family"] == "medoid"


def test_pam_starts_from_build_and_kmedoids_from_random():
    assert rura.create_clusterer("pam", 3).init == "build"
    assert rura.create_clusterer("kmedoids", 3, seed=2).init == "random"


def test_pam_reaches_the_classic_pam_loss_here():
    X = np.random.default_rng(0).normal(size=(40, 3))
    fitted = rura.create_clusterer("pam", 4).fit(X)
    classic = kmedoids.pam(pairwise_distances(X), 4, init="build")
    assert fitted.inertia_ == pytest.approx(float(classic.loss))
