"""Plugin loading: entry points, allow/deny variables, broken plugins, temporary plugins."""

import json
from pathlib import Path

import pytest

import rura
from rura import plugins
from tests.conftest import run_rura

GOOD = """
import rura

@rura.hookimpl
def register_clusterers(register):
    register("fake-clusterer", lambda n, *, seed=None: None, summary="a fake clusterer")
"""
IMPORT_FAILS = """
raise ImportError("libfoo.so not found")
"""
HOOK_FAILS = """
import rura

@rura.hookimpl
def register_clusterers(register):
    register("half-registered", lambda n, *, seed=None: None, summary="before the failure")
    raise RuntimeError("bad registration")

@rura.hookimpl
def register_backbones(register):
    register("fine-backbone", lambda *, weights=None: None, summary="still works")
"""
COLLIDES = """
import rura

@rura.hookimpl
def register_clusterers(register):
    register("kmeans", lambda n, *, seed=None: None, summary="a second kmeans")
"""


def _rows(completed):
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_entry_point_plugin_is_loaded_with_its_distribution_version(fake_distribution):
    site = fake_distribution("rura-fake", {"fake": GOOD}, version="1.2.3")
    rows = _rows(run_rura("plugins", "--json", pythonpath=site))
    [row] = [r for r in rows if r["name"] == "fake-clusterer"]
    assert row == {
        "name": "fake-clusterer",
        "kind": "clusterer",
        "plugin": "fake",
        "version": "1.2.3",
        "summary": "a fake clusterer",
        "status": "ok",
        "aliases": [],
    }


def test_broken_plugins_are_reported_and_the_others_work(fake_distribution):
    site = fake_distribution(
        "rura-broken", {"import-fails": IMPORT_FAILS, "hook-fails": HOOK_FAILS, "fake": GOOD}
    )
    completed = run_rura("plugins", "--json", pythonpath=site)
    rows = _rows(completed)
    by_plugin = {}
    for row in rows:
        by_plugin.setdefault(row["plugin"], []).append(row)
    [import_failure] = by_plugin["import-fails"]
    assert import_failure["kind"] is None
    assert import_failure["status"] == "ImportError: libfoo.so not found"
    hook_rows = {(r["name"], r["kind"], r["status"]) for r in by_plugin["hook-fails"]}
    assert ("hook-fails", "clusterer", "RuntimeError: bad registration") in hook_rows
    assert ("fine-backbone", "backbone", "ok") in hook_rows
    assert any(r["name"] == "fake-clusterer" and r["status"] == "ok" for r in rows)
    assert any(r["name"] == "kmeans" and r["status"] == "ok" for r in rows)  # built-ins unharmed


def test_broken_plugin_does_not_break_other_commands(fake_distribution):
    site = fake_distribution("rura-broken", {"import-fails": IMPORT_FAILS})
    completed = run_rura("plugins", "--kind", "clusterer", pythonpath=site)
    assert completed.returncode == 0
    assert "kmeans" in completed.stdout
    assert "failed to load" in completed.stdout
    assert "RURA_DISABLE_PLUGINS=import-fails" in completed.stderr


def test_collision_with_a_builtin_is_reported_against_the_later_plugin(fake_distribution):
    site = fake_distribution("rura-zz", {"zz-collides": COLLIDES})
    rows = _rows(run_rura("plugins", "--json", "--kind", "clusterer", pythonpath=site))
    [failure] = [r for r in rows if r["plugin"] == "zz-collides"]
    assert "sklearn-clusterers" in failure["status"] and "zz-collides" in failure["status"]
    [kmeans] = [r for r in rows if r["name"] == "kmeans"]
    assert kmeans["plugin"] == "sklearn-clusterers"


def test_allow_list_loads_only_the_named_plugins(fake_distribution):
    site = fake_distribution("rura-fake", {"fake": GOOD})
    env = {plugins.ALLOW_ENV: "fake, fundus"}
    rows = _rows(run_rura("plugins", "--json", env=env, pythonpath=site))
    assert {r["plugin"] for r in rows} == {"fake", "fundus"}


def test_deny_list_drops_the_named_plugins(fake_distribution):
    site = fake_distribution("rura-fake", {"fake": GOOD})
    env = {plugins.DENY_ENV: "fake,sklearn-clusterers"}
    rows = _rows(run_rura("plugins", "--json", env=env, pythonpath=site))
    plugin_names = {r["plugin"] for r in rows}
    assert "fake" not in plugin_names and "sklearn-clusterers" not in plugin_names
    assert "timm-backbones" in plugin_names


def test_is_enabled_reads_both_variables(monkeypatch):
    assert plugins.is_enabled("anything")
    monkeypatch.setenv(plugins.ALLOW_ENV, "a,b")
    monkeypatch.setenv(plugins.DENY_ENV, "b")
    assert plugins.is_enabled("a")
    assert not plugins.is_enabled("b")
    assert not plugins.is_enabled("c")


class TemporaryPlugin:
    @rura.hookimpl
    def register_datasets(self, register):
        register("temporary", lambda root, **options: ("manifest of", root), summary="tmp")


def test_plugin_registered_lasts_for_the_block_only():
    with plugins.plugin_registered(TemporaryPlugin(), name="temporary-plugin"):
        assert rura.load_dataset("temporary", "/data") == ("manifest of", Path("/data"))
    with pytest.raises(rura.UnknownPluginError):
        rura.load_dataset("temporary", "/data")


def test_rura_plugin_fixture_registers_for_one_test(rura_plugin):
    registry = rura_plugin(TemporaryPlugin(), name="from-fixture")
    assert registry.get("dataset", "temporary").plugin == "from-fixture"


def test_after_the_fixture_the_plugin_is_gone():
    assert ("dataset", "temporary") not in plugins.get_registry()
