"""The ``deterministic`` metadata of the built-in clusterers holds: True gives the same clusters
for every seed, False can give different ones."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

import rura
from rura.errors import PluginError, RuraError
from rura.plugins import get_registry
from rura.registry import Registry
from rura.testing import check_clusterer

pytestmark = pytest.mark.filterwarnings("ignore:distutils Version classes:DeprecationWarning")

BUILT_IN = {"sklearn-clusterers", "kmedoids-clusterers", "kmodes-clusterers", "skx-clusterers"}
SEEDS = range(6)


def _built_in() -> list[tuple[str, bool]]:
    registry = get_registry()
    names = []
    for name in registry.names("clusterer"):
        entry = registry.get("clusterer", name)
        if entry.plugin in BUILT_IN:
            names.append((name, entry.metadata.get("deterministic")))
    return names


BUILT_INS = _built_in()


def _labels(name: str, seed: int, data_seed: int) -> np.ndarray:
    """Four clusters of 60 structureless points: where a clusterer that reads its seed shows it."""
    points = np.random.default_rng(data_seed).uniform(size=(60, 2))
    try:
        estimator = rura.create_clusterer(name, 4, seed=seed)
    except RuraError as error:  # an optional library (scikit-learn-extra) is missing
        pytest.skip(str(error))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(estimator.fit(points).labels_)


def test_every_built_in_clusterer_declares_whether_it_is_deterministic():
    assert {name for name, _ in BUILT_INS} >= {"agg", "kmeans", "gmm", "pam", "kmedoids", "kmodes"}
    undeclared = [name for name, deterministic in BUILT_INS if not isinstance(deterministic, bool)]
    assert undeclared == []
    declared = dict(BUILT_INS)
    assert declared["agg"] is True
    for name in ("kmeans", "gmm", "kmedoids", "clara-fasterpam", "kmodes", "pam"):
        assert declared[name] is False, name


@pytest.mark.parametrize("name", [name for name, deterministic in BUILT_INS if deterministic])
def test_a_deterministic_clusterer_gives_the_same_clusters_for_every_seed(name):
    for data_seed in range(3):
        first = _labels(name, 0, data_seed)
        for seed in SEEDS[1:]:
            assert adjusted_rand_score(first, _labels(name, seed, data_seed)) == 1.0, (name, seed)


@pytest.mark.parametrize("name", [name for name, deterministic in BUILT_INS if not deterministic])
def test_a_clusterer_that_reads_its_seed_can_give_other_clusters(name):
    for data_seed in range(5):
        first = _labels(name, 0, data_seed)
        if any(adjusted_rand_score(first, _labels(name, s, data_seed)) < 1 for s in SEEDS[1:]):
            return
    pytest.fail(f"{name} is declared deterministic=False but no seed changed its clusters")


def test_the_conformance_check_holds_a_deterministic_claim():
    check_clusterer("agg", deterministic=True)
    with pytest.raises(AssertionError, match="declared deterministic, but seeds 0 and"):
        check_clusterer("kmeans", params={"n_init": 1}, deterministic=True)


def test_deterministic_is_a_flag_and_a_clusterer_key():
    def make(n_clusters, *, seed=None):
        return None

    clusterers = Registry().register_callback("clusterer", "a", "1.0")
    with pytest.raises(PluginError, match="deterministic='yes': deterministic is True or False"):
        clusterers("odd", make, summary="odd", deterministic="yes")
    backbones = Registry().register_callback("backbone", "a", "1.0")
    with pytest.raises(PluginError, match="unknown metadata keyword deterministic=True"):
        backbones("net", make, summary="net", deterministic=True)
