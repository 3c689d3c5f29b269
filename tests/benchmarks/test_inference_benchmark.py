"""``benchmarks/inference.py`` runs and prints its JSON keys (a tiny run).

The script runs in this process, as ``__main__`` (start-up is not what it measures), on the
segmenter the session trained for tests/diagnosis with the script's own recipe.
"""

import json
import runpy
import sys
from pathlib import Path

import pytest

from tests.diagnosis.conftest import shared_pipeline

REPO = Path(__file__).resolve().parents[2]
KEYS = {"images", "size", "on_disk_img_s", "in_memory_img_s", "ratio", "max_score_diff"}


@pytest.mark.slow  # builds and applies a model twice
def test_inference_benchmark_prints_its_json(tmp_path_factory, monkeypatch, capsys):
    segmenter = shared_pipeline(tmp_path_factory).segmenter  # 64 px, CLASSES, LESIONS, seed 0
    script = REPO / "benchmarks" / "inference.py"
    argv = ["--n", "6", "--size", "64", "--repeats", "1", "--segmenter", str(segmenter)]
    monkeypatch.setattr(sys, "argv", [str(script), *argv])
    runpy.run_path(str(script), run_name="__main__")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) >= KEYS and result["images"] == 6 and result["size"] == 64
    assert result["max_score_diff"] < 1e-6  # the two paths give the same scores
