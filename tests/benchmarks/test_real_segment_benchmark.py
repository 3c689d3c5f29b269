"""``benchmarks/real_segment.py`` trains both recipes on the real photos and prints its JSON.

The script runs in this process, as ``__main__`` (start-up is not what it measures).
"""

import json
import runpy
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_real_segment_benchmark_runs_both_recipes(idrid_20, monkeypatch, capsys):
    script = REPO / "benchmarks" / "real_segment.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--quick"])
    runpy.run_path(str(script), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    results = json.loads(lines[-1])["results"]
    assert [row["recipe"] for row in results] == ["before", "real"]
    for row in results:
        assert set(row["scores"]) == {"ex", "he", "ma", "cws", "mean"}
        assert 0 <= row["scores"]["mean"]["dice"] <= 1 and len(row["areas"]) == 6
        assert len(row["healthy"]) == 8 and 0 <= row["area_auc_shifted"] <= 1
    assert any(line.startswith("| before | 0 |") for line in lines)  # the Markdown table
