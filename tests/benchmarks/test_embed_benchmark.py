"""``benchmarks/embed.py`` runs and prints its ratios (a tiny run)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = ["--n", "4", "--batch-size", "2", "--repeats", "1", "--threads", "1"]


@pytest.mark.slow  # resnet18 on a few photos: seconds
def test_embed_benchmark_prints_its_ratios_with_the_model_on_one_thread():
    completed = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "embed.py"), *TINY],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["threads"] == 1
    assert result["e2e_img_s"] > 0 and result["forward_img_s"] > 0 and result["decode_img_s"] > 0
    assert result["ratio"] == pytest.approx(result["e2e_img_s"] / result["forward_img_s"], rel=0.01)
