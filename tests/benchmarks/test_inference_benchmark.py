"""``benchmarks/inference.py`` runs and prints its JSON keys (a tiny run)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KEYS = {"images", "size", "on_disk_img_s", "in_memory_img_s", "ratio", "max_score_diff"}


@pytest.mark.slow  # trains a one-epoch segmenter first
def test_inference_benchmark_prints_its_json():
    completed = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "inference.py"), "--n", "6", "--size", "64",
         "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )  # fmt: skip
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert set(result) >= KEYS and result["images"] == 6 and result["size"] == 64
    assert result["max_score_diff"] < 1e-6  # the two paths give the same scores
