"""The example plugin's own tests: registered through its entry point, and conformant."""

import rura
from rura.testing import check_clusterer


def test_kcenters_is_registered_by_its_entry_point():
    rows = [row for row in rura.list_plugins("clusterer") if row.name == "kcenters"]
    assert [(row.plugin, row.status) for row in rows] == [("kcenters", "ok")]


def test_kcenters_passes_the_clusterer_conformance_checks():
    check_clusterer("kcenters")


def test_kcenters_is_created_by_name():
    estimator = rura.create_clusterer("kcenters", 4, seed=1)
    assert (estimator.n_clusters, estimator.random_state) == (4, 1)
