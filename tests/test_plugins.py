"""Plugin loading: entry points, allow/deny variables, broken plugins, temporary plugins."""

import importlib
import json
import sys
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
MISSPELT = """
import rura

@rura.hookimpl
def register_backbone(register):
    register("never-registered", lambda *, weights=None: None, summary="misspelt hook")

@rura.hookimpl
def register_clusterers(register):
    register("spelt-right", lambda n, *, seed=None: None, summary="the right hook")
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
    assert "half-registered" not in {r["name"] for r in rows}  # the raising hook keeps nothing
    assert any(r["name"] == "fake-clusterer" and r["status"] == "ok" for r in rows)
    assert any(r["name"] == "kmeans" and r["status"] == "ok" for r in rows)  # built-ins unharmed


def test_a_misspelt_hook_is_a_failure_naming_the_hook_it_meant(fake_distribution):
    site = fake_distribution("rura-misspelt", {"misspelt": MISSPELT, "fake": GOOD})
    rows = _rows(run_rura("plugins", "--json", pythonpath=site))
    mine = {(r["name"], r["kind"], r["status"]) for r in rows if r["plugin"] == "misspelt"}
    assert mine == {
        (
            "misspelt",
            None,
            "PluginError: unknown hook 'register_backbone', which rura never calls; "
            "did you mean register_backbones?",
        ),
        ("spelt-right", "clusterer", "ok"),  # the plugin's right hooks still register
    }
    assert "never-registered" not in {r["name"] for r in rows}
    ok = {r["name"] for r in rows if r["status"] == "ok"}
    assert {"fake-clusterer", "kmeans", "resnet18"} <= ok  # other plugins unaffected


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


class EveryHookPlugin:
    """One implementation of every hook, registered in-process by the fixture."""

    @rura.hookimpl
    def register_backbones(self, register):
        register("toy-backbone", lambda *, weights=None: ("backbone", weights), summary="toy")

    @rura.hookimpl
    def register_segmenters(self, register):
        register(
            "toy-segmenter",
            lambda *, encoder, num_classes, weights=None: ("segmenter", encoder, num_classes),
            summary="toy",
        )

    @rura.hookimpl
    def register_clusterers(self, register):
        register("toy-clusterer", lambda n, *, seed=None: ("clusterer", n, seed), summary="toy")

    @rura.hookimpl
    def register_datasets(self, register):
        register("toy-dataset", lambda root, **options: ("dataset", root.name), summary="toy")

    @rura.hookimpl
    def register_modalities(self, register):
        register("toy-modality", lambda: rura.Modality("toy", rura.Preprocessing()), summary="toy")

    @rura.hookimpl
    def register_commands(self, app):
        @app.command("toy-hello")
        def hello(name: str = "world") -> None:
            """Say hello (a plugin-provided command)."""
            print(f"hello {name}")


def test_every_hook_registers_through_the_api(rura_plugin):
    rura_plugin(EveryHookPlugin(), name="every-hook")
    assert rura.create_backbone("toy-backbone", weights="none") == ("backbone", "none")
    assert rura.create_segmenter("toy-segmenter", encoder="e", num_classes=3) == (
        "segmenter",
        "e",
        3,
    )
    assert rura.create_clusterer("toy-clusterer", 4, seed=2) == ("clusterer", 4, 2)
    assert rura.load_dataset("toy-dataset", "/data/eyepacs") == ("dataset", "eyepacs")
    assert rura.get_modality("toy-modality").name == "toy"
    kinds = {row.kind for row in rura.list_plugins() if row.plugin == "every-hook"}
    assert kinds == {"backbone", "segmenter", "clusterer", "dataset", "modality"}


def test_register_commands_adds_a_cli_command(rura_plugin, capsys):
    from rura.cli import main

    rura_plugin(EveryHookPlugin(), name="every-hook")
    with pytest.raises(SystemExit) as caught:
        main(["toy-hello", "--name", "rura"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == "hello rura\n"


class BrokenCommandPlugin:
    @rura.hookimpl
    def register_commands(self, app):
        raise RuntimeError("cannot add commands")


def test_failing_register_commands_warns_and_the_cli_works(rura_plugin, capsys):
    from rura.cli import main

    rura_plugin(BrokenCommandPlugin(), name="broken-commands")
    with pytest.raises(SystemExit) as caught:
        main(["plugins", "--kind", "modality", "--json"])
    assert caught.value.code == 0
    captured = capsys.readouterr()
    assert "broken-commands" in captured.err and "fundus" in captured.out


def test_user_errors_are_one_line_without_traceback(rura_plugin, capsys):
    from rura.cli import main

    class FailingCommand:
        @rura.hookimpl
        def register_commands(self, app):
            @app.command("toy-fail")
            def fail() -> None:
                raise rura.RuraError(
                    "images/a.png: not an image; remove it or pass --on-error skip"
                )

    rura_plugin(FailingCommand(), name="failing")
    with pytest.raises(SystemExit) as caught:
        main(["toy-fail"])
    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: images/a.png: not an image; remove it or pass --on-error skip"


def _failures_of(registry, plugin):
    return [f for f in registry.failures if f.plugin == plugin]


class MisspeltHooks:
    @rura.hookimpl
    def register_modality(self, register):
        register("never", lambda: None, summary="misspelt")

    @rura.hookimpl
    def setup(self, register):
        """Far from every hook name."""

    @rura.hookimpl(optionalhook=True)
    def register_widgets(self, register):
        """Not meant for rura: opted out."""

    @rura.hookimpl
    def register_datasets(self, register):
        register("spelt-right", lambda root: None, summary="the right hook")


def test_unknown_hooks_are_failures_with_the_closest_hook(rura_plugin):
    registry = rura_plugin(MisspeltHooks(), name="misspelt")
    errors = sorted(f.error for f in _failures_of(registry, "misspelt"))
    assert errors == [
        "PluginError: unknown hook 'register_modality', which rura never calls; "
        "did you mean register_modalities?",
        "PluginError: unknown hook 'setup', which rura never calls; rura's hooks are "
        "register_backbones, register_clusterers, register_commands, register_datasets, "
        "register_modalities, register_segmenters",
    ]
    assert all(f.kind is None for f in _failures_of(registry, "misspelt"))
    assert registry.get("dataset", "spelt-right").plugin == "misspelt"
    assert ("modality", "never") not in registry
    assert ("modality", "fundus") in registry
    assert [f for f in registry.failures if f.plugin != "misspelt"] == []


def test_a_misspelt_hook_fails_the_conformance_check(rura_plugin, monkeypatch, capsys):
    from rura.cli import main

    monkeypatch.setenv(plugins.ALLOW_ENV, "fundus")
    rura_plugin(MisspeltHooks(), name="misspelt")
    with pytest.raises(SystemExit) as caught:
        main(["plugins", "--check", "--json"])
    results = json.loads(capsys.readouterr().out)
    assert caught.value.code == 1
    assert {r["plugin"]: r["check"] for r in results}["fundus"] == "passed"
    assert any(
        r["plugin"] == "misspelt" and "did you mean register_modalities?" in r["check"]
        for r in results
    )


class RaisesAfterRegistering:
    @rura.hookimpl
    def register_clusterers(self, register):
        register("partial-one", lambda n, *, seed=None: None, summary="registered first")
        register("kmeans", lambda n, *, seed=None: None, summary="mine", override=True)
        raise RuntimeError("bad registration")

    @rura.hookimpl
    def register_datasets(self, register):
        register("whole", lambda root: None, summary="a hook that returns")


def test_a_hook_that_raises_keeps_nothing_it_registered(rura_plugin):
    registry = rura_plugin(RaisesAfterRegistering(), name="raises")
    [failure] = _failures_of(registry, "raises")
    assert (failure.kind, failure.error) == ("clusterer", "RuntimeError: bad registration")
    assert ("clusterer", "partial-one") not in registry
    assert registry.get("clusterer", "kmeans").plugin == "sklearn-clusterers"  # override undone
    assert registry.get("dataset", "whole").plugin == "raises"


class BadMetadata:
    @rura.hookimpl
    def register_clusterers(self, register):
        register("typo", lambda n, *, seed=None: None, summary="typo", famliy="centroid")


def test_bad_metadata_is_a_failure_of_the_plugins_hook(rura_plugin):
    registry = rura_plugin(BadMetadata(), name="bad-metadata")
    [failure] = _failures_of(registry, "bad-metadata")
    assert failure.kind == "clusterer" and "did you mean family?" in failure.error
    assert ("clusterer", "typo") not in registry


NAMED_MODULE = """
import rura

@rura.hookimpl
def register_datasets(register):
    register("from-module", lambda root: None, summary="a dataset of a named module")
"""


@pytest.fixture
def named_module(tmp_path, monkeypatch):
    """An importable module ``rura_named_pkg.mod`` with one hook."""
    package = tmp_path / "rura_named_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(NAMED_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "rura_named_pkg.mod"
    for module in ("rura_named_pkg.mod", "rura_named_pkg"):
        sys.modules.pop(module, None)


def test_a_plugin_named_by_its_dotted_name_is_named_after_the_module(named_module):
    with plugins.plugin_registered(named_module) as registry:
        assert registry.get("dataset", "from-module").plugin == "rura_named_pkg.mod"
        assert plugins.get_plugin_manager().has_plugin("rura_named_pkg.mod")
    assert ("dataset", "from-module") not in plugins.get_registry()


def test_a_module_plugin_is_named_after_the_module(named_module):
    module = importlib.import_module(named_module)
    with plugins.plugin_registered(module) as registry:
        assert registry.get("dataset", "from-module").plugin == "rura_named_pkg.mod"


def test_an_object_plugin_is_named_after_its_class_unless_named():
    with plugins.plugin_registered(TemporaryPlugin()) as registry:
        assert registry.get("dataset", "temporary").plugin == "TemporaryPlugin"
    with plugins.plugin_registered(TemporaryPlugin(), name="given") as registry:
        assert registry.get("dataset", "temporary").plugin == "given"
    assert plugins.plugin_name(TemporaryPlugin) == "TemporaryPlugin"
    assert plugins.plugin_name(plugins) == "rura.plugins"


def test_a_taken_plugin_name_or_a_plugin_registered_twice_is_refused(named_module):
    plugin = TemporaryPlugin()
    with plugins.plugin_registered(plugin, name="first"):
        taken = [
            (plugin, "second", "already registered as 'first'"),
            (named_module, "first", "a plugin named 'first' is already registered"),
            (TemporaryPlugin(), "fundus", "'fundus' is already registered"),
        ]
        for other, name, message in taken:
            with (
                pytest.raises(rura.PluginError, match=message),
                plugins.plugin_registered(other, name=name),
            ):
                pass  # pragma: no cover
    assert ("dataset", "temporary") not in plugins.get_registry()


class WrongArguments:
    @rura.hookimpl
    def register_datasets(self, register):
        register("never", lambda root: None, summary="never registered")

    @rura.hookimpl
    def register_clusterers(self, reg):
        """``reg`` is not the spec's ``register``."""


def test_a_plugin_whose_hook_arguments_are_wrong_registers_nothing():
    import pluggy

    with (
        pytest.raises(pluggy.PluginValidationError, match="reg"),
        plugins.plugin_registered(WrongArguments(), name="wrong-arguments"),
    ):
        pass  # pragma: no cover
    assert not plugins.get_plugin_manager().has_plugin("wrong-arguments")
    assert ("dataset", "never") not in plugins.get_registry()
