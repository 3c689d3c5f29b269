"""``ablate``: the three Table 6 variants from one config, reusing the trained models."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rura.pipeline.ablation import VARIANTS, run_ablation
from tests.pipeline.conftest import tiny_config


@pytest.mark.slow
def test_ablation_runs_three_variants_and_writes_table_6(pipeline_data, tmp_path):
    config = tiny_config(pipeline_data, tmp_path / "run", seeds=[0])
    rows = run_ablation(config, progress=False)
    assert [r["method"] for r in rows] == list(VARIANTS.values())
    out = tmp_path / "run" / "ablation"
    table = pd.read_csv(out / "ablation.csv")
    assert list(table["variant"]) == ["segmentation", "siamese", "both"]
    assert table["auc_mean"].between(0, 1).all()
    markdown = (out / "ablation.md").read_text()
    assert "| Siamese+Segmentation |" in markdown and (out / "ablation.png").is_file()

    siamese = tmp_path / "run/ablation/siamese"
    assert not (siamese / "masks").exists() and not (siamese / "segmentation/model").exists()
    state = json.loads((siamese / "run.json").read_text())
    assert state["stages"]["segmentation"]["status"] == "disabled"
    assert (
        state["most_similar"] == json.loads((tmp_path / "run/run.json").read_text())["most_similar"]
    )
    segmentation = tmp_path / "run/ablation/segmentation"
    fit = json.loads((segmentation / "diagnosis/seed0/fit.json").read_text())
    assert fit["n_fit"] == 18  # every known image: three classes of six
    assert (
        (segmentation / "segmentation/model.txt")
        .read_text()
        .strip()
        .endswith("run/segmentation/model")
    )
    both = json.loads((tmp_path / "run/diagnosis/seed0/fit.json").read_text())
    assert both["n_fit"] == 12  # normal and the similar disease

    again = run_ablation(config, progress=False)
    assert [r["auc_mean"] for r in again] == [r["auc_mean"] for r in rows]
