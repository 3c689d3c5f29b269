"""PAM and CLARA from the optional scikit-learn-extra."""

import sys

import pytest

import rura
from rura.plugins import get_plugin_manager, get_registry
from rura.testing import check_clusterer
from rura_plugins import skx_clusterers

pytestmark = pytest.mark.filterwarnings("ignore:distutils Version classes:DeprecationWarning")


@pytest.fixture(autouse=True)
def registry(rura_plugin):
    """The registry with this plugin, whether or not its entry point is installed yet."""
    if get_plugin_manager().is_registered(skx_clusterers):
        return get_registry()
    return rura_plugin(skx_clusterers, name="skx-clusterers")


@pytest.mark.parametrize("name", ["pam-skx", "clara"])
def test_clusterer_conforms(name):
    pytest.importorskip("sklearn_extra")
    check_clusterer(name)


def test_pam_skx_runs_pam_from_build():
    pytest.importorskip("sklearn_extra")
    estimator = rura.create_clusterer("pam-skx", 3, seed=0)
    assert (estimator.method, estimator.init, estimator.random_state) == ("pam", "build", 0)


@pytest.mark.parametrize("name", ["pam-skx", "clara"])
def test_missing_scikit_learn_extra_is_a_one_line_rura_error(name, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn_extra", None)  # makes the import fail
    with pytest.raises(rura.RuraError, match=r"pip install 'rura\[extra\]'"):
        rura.create_clusterer(name, 3)
