"""``benchmarks/segment.py`` runs and prints its JSON keys (a tiny run)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_segment_benchmark_prints_its_json():
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "segment.py"),
            "--n",
            "2",
            "--size",
            "64",
            "--encoder",
            "tu-mobilenetv3_small_100",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert {"predict_img_s", "forward_img_s", "ratio"} <= set(result)
    assert result["predict_img_s"] > 0 and result["forward_img_s"] > 0
