"""``rura select`` from the command line."""

from __future__ import annotations

import json

import pytest

from tests.conftest import invoke_rura
from tests.pipeline.conftest import WITHOUT_SIMILARITY, tiny_config


@pytest.mark.slow
def test_select_prints_the_leaderboard_and_how_to_use_the_choice(pipeline_data, tmp_path):
    config = tiny_config(pipeline_data, tmp_path / "run", similarity=WITHOUT_SIMILARITY)
    done = invoke_rura(
        "select", str(config), "--quiet", "--focus", "none,weighted", "--adapt", "center",
        "--evidence", "distance", "--operating-point", "nearest,otsu", "--seed", "0",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    choice = json.loads((tmp_path / "run" / "select" / "choice.json").read_text())
    assert len(choice["rows"]) == 4
    chosen = choice["chosen"]
    assert f"--set diagnosis.focus={chosen['focus']}" in done.stdout
    assert "| focus | operating_point | AUC glaucoma |" in done.stdout
    assert "leaderboard:" in done.stdout


def test_select_refuses_unknown_values_in_one_line(pipeline_data, tmp_path):
    config = tiny_config(pipeline_data, tmp_path / "run", similarity=WITHOUT_SIMILARITY)
    bad = invoke_rura("select", str(config), "--focus", "lesions")
    assert bad.returncode == 2 and "'lesions' is not a focus" in bad.stderr
    assert "Traceback" not in bad.stderr
    cluster = invoke_rura("select", str(config), "--cluster", "nope")
    assert cluster.returncode == 2 and "nope" in cluster.stderr
    assert not (tmp_path / "run" / "select").exists()
