"""Library errors name Python parameters; under the CLI they name its flags."""

from __future__ import annotations

import os

import pytest

from rura.errors import CLI_NAMES_ENV, RuraError, cli_names, option


@pytest.fixture(autouse=True)
def _python_audience(monkeypatch):
    monkeypatch.delenv(CLI_NAMES_ENV, raising=False)


def test_python_callers_read_keywords():
    assert option("out") == "out="
    assert option("resume", True) == "resume=True"
    assert option("threshold", 2.0) == "threshold=2.0"
    assert option("on_error", "skip") == "on_error='skip'"
    assert option("lesions", ["ma", "he"]) == "lesions=['ma', 'he']"
    assert option("overrides") == "overrides="  # the table is the CLI's alone


def test_the_cli_reads_flags_as_typed_in_a_shell():
    with cli_names({"overrides": "--set"}):
        assert option("out") == "--out"
        assert option("resume", True) == "--resume"
        assert option("threshold", 2.0) == "--threshold 2.0"
        assert option("on_error", "skip") == "--on-error skip"
        assert option("target_images") == "--target-images"
        assert option("lesions", ["ma", "he"]) == "--lesions ma,he"
        assert option("overrides", "out=a b") == "--set 'out=a b'"
        assert option("on_error", "") == "--on-error ''"
    assert option("out") == "out=" and CLI_NAMES_ENV not in os.environ  # restored


def test_worker_processes_of_the_cli_read_flags(monkeypatch):
    """A worker started afresh (spawn, forkserver) has only the environment variable."""
    monkeypatch.setenv(CLI_NAMES_ENV, "1")
    assert option("on_error", "skip") == "--on-error skip"


def test_the_cli_table_maps_renamed_flags():
    from rura.cli import FLAGS

    with cli_names(FLAGS):
        assert option("overrides", "x") == "--set x"
        assert option("from_stage", "report") == "--from report"
        assert option("normal_label") == "--normal"


# -- one real message, from Python and through the CLI -----------------------------------------


@pytest.fixture
def taken(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    return tmp_path / "taken"


def test_a_python_call_names_the_parameter(taken):
    from rura.data.synth import generate

    with pytest.raises(RuraError, match=r"notes\.txt\); .*pass overwrite=True to replace"):
        generate(taken, size=64, per_class=1)


def test_the_same_failure_through_the_cli_names_the_flag(taken, capsys):
    from rura.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["synth", str(taken), "--size", "64", "--per-class", "1"])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "pass --overwrite to replace" in " ".join(err.split())
    assert option("overwrite", True) == "overwrite=True"  # the CLI's names end with it


def test_a_renamed_flag_from_python_and_through_the_cli(tmp_path, capsys):
    from rura.cli import main
    from rura.pipeline.config import load_config

    config = tmp_path / "rura.yaml"
    config.write_text("target: x\n")
    with pytest.raises(RuraError, match=r"^overrides='bogus': write KEY=VALUE"):
        load_config(config, ["bogus"])
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(config), "--set", "bogus"])
    err = " ".join(capsys.readouterr().err.split())
    assert exit_.value.code == 1 and "error: --set bogus: write KEY=VALUE" in err
