"""``benchmarks/synth.py`` runs and prints its JSON keys (a tiny run)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KEYS = {"images", "size", "parallel_img_s", "serial_img_s", "ratio", "seconds_for_1000_est"}


@pytest.mark.slow
def test_synth_benchmark_prints_its_json():
    completed = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "synth.py"), "--n", "9", "--size", "64"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert set(result) >= KEYS and result["images"] == 9 and result["size"] == 64
