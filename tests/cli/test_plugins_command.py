"""``rura plugins``, ``rura --version`` and ``python -m rura``."""

import json
import os
import subprocess
import sys

import pytest

import rura
from rura import plugins
from rura.registry import KINDS
from tests.conftest import invoke_rura

JSON_KEYS = {"name", "kind", "plugin", "version", "summary", "status", "aliases"}


def test_version_is_printed():
    completed = invoke_rura("--version")
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"rura {rura.__version__}"


def test_json_is_an_array_of_objects_with_the_documented_keys():
    completed = invoke_rura("plugins", "--json")
    rows = json.loads(completed.stdout)
    assert isinstance(rows, list) and rows
    for row in rows:
        assert set(row) == JSON_KEYS
        assert row["kind"] in KINDS
        assert row["status"] == "ok"
        assert isinstance(row["summary"], str) and row["summary"]
    assert {row["kind"] for row in rows} == set(KINDS)


def test_kind_filters_the_rows():
    rows = json.loads(invoke_rura("plugins", "--kind", "segmenter", "--json").stdout)
    assert rows and {row["kind"] for row in rows} == {"segmenter"}
    assert "unet" in {row["name"] for row in rows}


def test_unknown_kind_is_a_usage_error_listing_the_kinds():
    completed = invoke_rura("plugins", "--kind", "clusterers")
    assert completed.returncode == 2
    assert "clusterer" in completed.stderr and "Traceback" not in completed.stderr


def test_table_lists_builtins_and_the_example_plugin():
    completed = invoke_rura("plugins")
    assert completed.returncode == 0
    for name in ("kmeans", "agg", "resnet18", "unet", "fundus", "folder", "kcenters"):
        assert name in completed.stdout


def test_no_arguments_prints_help():
    completed = invoke_rura()
    assert "plugins" in completed.stdout + completed.stderr


def _plugins(args, capsys):
    """``rura plugins ARGS`` in-process: (exit code, stdout, stderr)."""
    from rura.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["plugins", *args])
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


def test_an_allow_listed_plugin_that_is_not_installed_is_reported(monkeypatch, capsys):
    monkeypatch.setenv(plugins.ALLOW_ENV, "fundas")
    code, out, _ = _plugins(["--json"], capsys)
    [row] = json.loads(out)
    assert code == 0 and row["plugin"] == "fundas" and row["kind"] is None
    assert row["status"].startswith("not installed") and "did you mean fundus?" in row["status"]
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = _plugins([], capsys)
    assert code == 0 and "fundas" in out
    assert "Install fundas or remove it from RURA_PLUGINS" in err
    assert "RURA_DISABLE_PLUGINS" not in err  # disabling is not the fix for a missing plugin


def test_check_fails_when_a_named_plugin_is_not_installed(monkeypatch, capsys):
    monkeypatch.setenv(plugins.ALLOW_ENV, "no_such_module")
    code, out, err = _plugins(["--check", "--json"], capsys)
    [result] = json.loads(out)
    assert code == 1 and result["check"].startswith("failed to load: not installed")
    assert "no_such_module" in err


class _FailingHook:
    @rura.hookimpl
    def register_clusterers(self, register):
        raise RuntimeError("bad registration")


class _FailingCommands:
    @rura.hookimpl
    def register_commands(self, app):
        raise RuntimeError("cannot add commands")


class _FailingCheck:
    @rura.hookimpl
    def register_modalities(self, register):
        register("broken-modality", lambda: None, summary="returns no modality")


@pytest.mark.parametrize(
    ("plugin", "status"),
    [
        (_FailingHook(), "failed to load: RuntimeError: bad registration"),
        (_FailingCommands(), "failed to load: register_commands: RuntimeError: cannot add"),
        (_FailingCheck(), "FAILED: modality factory returned NoneType"),
    ],
    ids=["hook", "commands", "conformance"],
)
def test_check_exits_1_when_any_plugin_fails(rura_plugin, monkeypatch, capsys, plugin, status):
    monkeypatch.setenv(plugins.ALLOW_ENV, "fundus")  # one fast built-in check besides
    rura_plugin(plugin, name="failing")
    code, out, err = _plugins(["--check", "--json"], capsys)
    results = {r["plugin"]: r["check"] for r in json.loads(out)}
    assert code == 1, err
    assert results["fundus"] == "passed" and results["failing"].startswith(status)
    code, out, _ = _plugins(["--json"], capsys)  # the listing reports it and exits 0
    assert code == 0 and any(r["plugin"] == "failing" for r in json.loads(out))


def test_a_not_installed_plugin_is_listed_without_importing_torch():
    code = (
        "import sys\nfrom rura.cli import main\ntry:\n    main(['plugins', '--json'])\n"
        "except SystemExit:\n    pass\nprint('torch' in sys.modules)"
    )
    env = {**os.environ, plugins.ALLOW_ENV: "no_such_module"}
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert completed.stdout.strip().splitlines()[-1] == "False"
    assert "not installed" in completed.stdout
