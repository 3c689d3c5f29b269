"""``benchmarks/cluster.py --quick`` runs every part and prints its JSON (a tiny run).

The script runs in this process, as ``__main__`` (start-up is not what it measures).
"""

import json
import runpy
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # every clusterer part at small sizes: a few seconds
def test_cluster_benchmark_quick_prints_every_part(monkeypatch, capsys):
    pytest.importorskip("sklearn_extra", reason="the pam part compares with scikit-learn-extra")
    script = REPO / "benchmarks" / "cluster.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--quick"])
    runpy.run_path(str(script), run_name="__main__")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["quick"] is True
    assert result["agg_30k_path"] == "kmeans" and result["agg_30k_peak_rss_gib"] > 0
    assert result["agg_30k_ari_vs_exact_ward_2k"] > 0.5
    assert "agg_over_scipy_1k" in result and "agg_scalable_seconds_20k" in result
    for clusterer in ("agg", "kmeans"):
        assert result[f"predict_{clusterer}_same_predictions"] is True
        assert result[f"predict_{clusterer}_max_score_diff"] < 1e-9
        assert result[f"predict_{clusterer}_separate_calls_agree"] is True
    assert result["pam_loss_ratio_500"] == pytest.approx(1.0, abs=1e-3)
    assert result["dtype_bytes_ratio"] == pytest.approx(0.5, abs=0.01)
    assert result["dtype_max_relative_error"] < 1e-3
