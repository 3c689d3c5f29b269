"""``rura run`` and ``rura ablate`` from the command line."""

from __future__ import annotations

from tests.conftest import invoke_rura
from tests.pipeline.conftest import WITHOUT_SIMILARITY, tiny_config


def test_run_prints_the_results_table_and_the_report(pipeline_data, tmp_path):
    config = tiny_config(
        pipeline_data,
        tmp_path / "run",
        similarity=WITHOUT_SIMILARITY,
        segmentation={"enabled": False},
        diagnosis={"focus": "none"},
    )
    dry = invoke_rura("run", str(config), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "similarity    disabled" in dry.stdout and "features      run" in dry.stdout
    done = invoke_rura("run", str(config), "--quiet", "--seed", "3")
    assert done.returncode == 0, done.stderr
    assert "# Zero-shot diagnosis of 'mild_dr'" in done.stdout
    assert "| mean ± std |" in done.stdout and "seeds 3" in done.stdout
    assert f"report: {tmp_path / 'run' / 'report.html'}" in done.stdout
    again = invoke_rura(
        "run", str(config), "--quiet", "--seed", "3", "--set", "evaluation.bootstrap=10"
    )
    assert "features: cached" in again.stderr and "evaluation: running" in again.stderr


def test_run_errors_are_one_line(tmp_path):
    missing = invoke_rura("run", str(tmp_path / "none.yaml"))
    assert missing.returncode == 1 and "no such config file" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_seed = invoke_rura("run", str(tmp_path / "none.yaml"), "--seed", "a")
    assert bad_seed.returncode == 2 and "not an integer seed" in bad_seed.stderr


def test_unknown_from_stage(pipeline_data, tmp_path):
    config = tiny_config(pipeline_data, tmp_path / "run", similarity=WITHOUT_SIMILARITY)
    done = invoke_rura("run", str(config), "--from", "embed")
    assert done.returncode == 2 and "'embed' is not one of 'similarity'" in done.stderr
