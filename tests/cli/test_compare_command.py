"""``rura compare`` from the shell: the run form, and one-line errors for mixed or missing forms."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import invoke_rura
from tests.pipeline.conftest import WITHOUT_SIMILARITY, tiny_config


def one_line(completed: subprocess.CompletedProcess, code: int) -> str:
    assert completed.returncode == code, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert "Traceback" not in completed.stderr and not completed.stdout.strip()
    return lines[0]


def test_no_arguments_name_both_forms():
    line = one_line(invoke_rura("compare"), 2)
    assert line.startswith("error: ")
    assert "rura compare RUN_DIR_OR_CONFIG" in line and "rura compare --data" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["runs/x", "--data", "eval", "--bootstrap", "5"], "--data, --bootstrap: options of the"),
        (["runs/x", "--target", "mild_dr"], "--target: options of the data form"),
        (["--data", "eval", "--target", "t", "--out", "o", "--set", "a=b"], "--set changes a run"),
        (["--data", "eval"], "--data needs --target and --out"),
        (["--data", "eval", "--target", "t", "--out", "o", "--focus", "none,masked"], "one"),
    ],
    ids=["run+data", "run+target", "data+set", "data-alone", "data+2-focus"],
)
def test_mixed_or_incomplete_forms_are_one_line_usage_errors(args, expected):
    line = one_line(invoke_rura("compare", *args), 2)
    assert expected in line


def test_a_path_that_is_neither_a_config_nor_a_run_exits_1_with_one_line(tmp_path):
    line = one_line(invoke_rura("compare", str(tmp_path / "nowhere"), "--cluster", "agg"), 1)
    assert str(tmp_path / "nowhere") in line and "rura run CONFIG" in line


def test_the_run_form_from_a_config_then_from_its_run_directory(pipeline_data, tmp_path):
    run = tmp_path / "run"
    config = tiny_config(
        pipeline_data,
        run,
        similarity=WITHOUT_SIMILARITY,
        segmentation={"enabled": False},
        diagnosis={"focus": "none"},
    )
    first = invoke_rura("compare", str(config), "--cluster", "agg,kmeans", "--seed", "0")
    assert first.returncode == 0, first.stderr
    assert "up to the features stage first" in first.stderr
    assert "agg" in first.stdout and "kmeans" in first.stdout
    assert f"leaderboard: {run / 'compare' / 'leaderboard.csv'}" in first.stderr
    before = pd.read_csv(run / "compare" / "leaderboard.csv")
    assert before["seed"].tolist() == [0, 0] and before["cluster"].tolist() == ["agg", "kmeans"]
    second = invoke_rura("compare", str(run), "-c", "agg", "-c", "kmeans", "--seeds", "0")
    assert second.returncode == 0, second.stderr
    assert "up to the features stage" not in second.stderr
    after = pd.read_csv(run / "compare" / "leaderboard.csv")
    pd.testing.assert_frame_equal(before, after)  # the same seed gives the same numbers
    rejected = invoke_rura("compare", str(run), "--cluster", "agg,kmean")
    assert rejected.returncode == 2 and "kmeans" in rejected.stderr


def test_compare_help_imports_nothing_heavy():
    probe = (
        "import sys\nfrom rura.cli import main\n"
        "try:\n    main(['compare', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY=' + ','.join(m for m in ('torch', 'sklearn', 'pandas') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert "RUN_DIR_OR_CONFIG" in completed.stdout
    assert completed.stdout.strip().splitlines()[-1] == "HEAVY="
