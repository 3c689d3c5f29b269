"""``rura plugins``, ``rura --version`` and ``python -m rura``."""

import json

import rura
from rura.registry import KINDS
from tests.conftest import run_rura

JSON_KEYS = {"name", "kind", "plugin", "version", "summary", "status", "aliases"}


def test_version_is_printed():
    completed = run_rura("--version")
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"rura {rura.__version__}"


def test_json_is_an_array_of_objects_with_the_documented_keys():
    completed = run_rura("plugins", "--json")
    rows = json.loads(completed.stdout)
    assert isinstance(rows, list) and rows
    for row in rows:
        assert set(row) == JSON_KEYS
        assert row["kind"] in KINDS
        assert row["status"] == "ok"
        assert isinstance(row["summary"], str) and row["summary"]
    assert {row["kind"] for row in rows} == set(KINDS)


def test_kind_filters_the_rows():
    rows = json.loads(run_rura("plugins", "--kind", "segmenter", "--json").stdout)
    assert rows and {row["kind"] for row in rows} == {"segmenter"}
    assert "unet" in {row["name"] for row in rows}


def test_unknown_kind_is_a_usage_error_listing_the_kinds():
    completed = run_rura("plugins", "--kind", "clusterers")
    assert completed.returncode == 2
    assert "clusterer" in completed.stderr and "Traceback" not in completed.stderr


def test_table_lists_builtins_and_the_example_plugin():
    completed = run_rura("plugins")
    assert completed.returncode == 0
    for name in ("kmeans", "agg", "resnet18", "unet", "fundus", "folder", "kcenters"):
        assert name in completed.stdout


def test_no_arguments_prints_help():
    completed = run_rura()
    assert "plugins" in completed.stdout + completed.stderr
