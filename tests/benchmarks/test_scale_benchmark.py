"""``benchmarks/scale.py --quick`` runs both engines and prints its JSON (48 images).

The script runs in this process, as ``__main__`` (start-up is not what it measures), with the
tiny pipeline model that tests/diagnosis builds once per session.
"""

import json
import runpy
import sys
from pathlib import Path

import pytest

from tests.diagnosis.conftest import shared_pipeline

REPO = Path(__file__).resolve().parents[2]
KEYS = {"sizes", "ratio", "ms_per_image", "runs", "differences", "ray_start_s"}


@pytest.mark.slow  # starts Ray, runs four pipelines
def test_scale_benchmark_prints_its_json(tmp_path, tmp_path_factory, monkeypatch, capsys):
    model = shared_pipeline(tmp_path_factory).bundle  # 64 px, as the script's default
    script = REPO / "benchmarks" / "scale.py"
    argv = ["--quick", "--data", str(tmp_path), "--model", str(model)]
    monkeypatch.setattr(sys, "argv", [str(script), *argv])
    runpy.run_path(str(script), run_name="__main__")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) >= KEYS and result["sizes"] == [48]
    assert {(r["stage"], r["engine"]) for r in result["runs"]} == {
        (stage, engine) for stage in ("embed", "diagnose") for engine in ("local", "ray")
    }
    assert all(r["img_s"] > 0 and r["peak_memory_mb"] > 0 for r in result["runs"])
    assert result["ratio"]["embed"]["48"] > 0 and result["ratio"]["diagnose"]["48"] > 0
    same = result["differences"]["48"]  # the engines agree
    assert same["max_feature_diff"] < 1e-5 and same["max_score_diff"] < 1e-5
    assert same["diagnoses_differing"] == 0


def test_an_unknown_stage_is_refused(tmp_path, monkeypatch, capsys):
    script = REPO / "benchmarks" / "scale.py"
    argv = ["--quick", "--data", str(tmp_path), "--stages", "embed,train"]
    monkeypatch.setattr(sys, "argv", [str(script), *argv])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(script), run_name="__main__")
    assert (
        exit_.value.code == 2 and "--stages: choose from embed, diagnose" in capsys.readouterr().err
    )
    assert not any(tmp_path.iterdir())  # refused before any image is written
