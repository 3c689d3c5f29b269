"""``rura select``: each known disease plays the target; the target's labels are never read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rura.errors import RuraError
from rura.pipeline import Pipeline
from rura.pipeline.inputs import Inputs
from rura.pipeline.select import candidate_grid, nearest_diseases, run_selection
from tests.conftest import copy_run
from tests.pipeline.conftest import WITHOUT_SIMILARITY, tiny_config

GRID = {"focus": ["none", "weighted"], "operating_point": ["nearest", "otsu"]}


def _forbid_truth(monkeypatch) -> None:
    def refuse(self):
        raise AssertionError("selection read the evaluation labels")

    monkeypatch.setattr(Inputs, "evaluation_truth", refuse)


def _select(config, grid=GRID):
    pipeline = Pipeline.from_config(config, progress=False)
    pipeline.run(until="segmentation")
    return pipeline, run_selection(pipeline, grid)


def test_candidate_grid_crosses_the_given_values_and_keeps_the_rest(pipeline_data, tmp_path):
    config = tiny_config(pipeline_data, tmp_path / "run", similarity=WITHOUT_SIMILARITY)
    pipeline = Pipeline.from_config(config, progress=False)
    grid = candidate_grid(pipeline, {"focus": ["none", "overlay"], "adapt": ["none", "coral"]})
    assert len(grid) == 4
    assert {c["clusterer"] for c in grid} == {"agg"}  # the config's, not varied
    assert {(c["focus"], c["adapt"]) for c in grid} == {
        ("none", "none"),
        ("none", "coral"),
        ("overlay", "none"),
        ("overlay", "coral"),
    }
    with pytest.raises(RuraError, match="cannot choose backbone"):
        candidate_grid(pipeline, {"backbone": ["resnet18"]})


def test_candidate_grid_without_segmentation_drops_mask_settings(pipeline_data, tmp_path):
    config = tiny_config(
        pipeline_data,
        tmp_path / "run",
        similarity=WITHOUT_SIMILARITY,
        segmentation={"enabled": False},
        diagnosis={"focus": "none"},
    )
    grid = candidate_grid(Pipeline.from_config(config, progress=False))
    assert {c["focus"] for c in grid} == {"none"}
    assert {c["evidence"] for c in grid} == {"distance"}


@pytest.fixture(scope="module")
def plain_selection(plain_run, pipeline_data, tmp_path_factory):
    """The selection over GRID of the plain config (the session's plain run's, whose segmenter
    it reuses), made with the evaluation labels out of reach; read, not changed, by the tests."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _forbid_truth(monkeypatch)
        run = copy_run(plain_run[0].run_dir, tmp_path_factory.mktemp("select") / "run")
        return _select(tiny_config(pipeline_data, run, similarity=WITHOUT_SIMILARITY))


def test_select_scores_every_setting_without_the_target_labels(plain_selection):
    pipeline, selection = plain_selection  # selected with the evaluation labels forbidden
    assert len(selection.rows) == 4
    assert selection.fallback is None
    assert selection.pseudo_targets == {
        "glaucoma": "hypertensive_retinopathy",
        "hypertensive_retinopathy": "glaucoma",
    }
    for row in selection.rows:
        for disease in ("glaucoma", "hypertensive_retinopathy"):
            assert 0 <= row[f"auc:{disease}"] <= 1
        assert row["score"] == pytest.approx((row["auc"] + row["f1"]) / 2)
    scores = [row["score"] for row in selection.rows]
    assert scores == sorted(scores, reverse=True)
    best = selection.rows[0]
    assert selection.chosen == {k: best[k] for k in selection.chosen}
    out = pipeline.run_dir / "select"
    assert json.loads((out / "choice.json").read_text())["chosen"] == selection.chosen
    assert len(pd.read_csv(out / "leaderboard.csv")) == 4
    assert (out / "leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "**" in (out / "leaderboard.md").read_text()


@pytest.mark.slow
def test_scrambled_evaluation_labels_leave_the_choice_unchanged(
    plain_run, plain_selection, pipeline_data, tmp_path
):
    import shutil

    scrambled = Path(shutil.copytree(pipeline_data / "external", tmp_path / "external"))
    manifest = scrambled / "manifest.csv"
    table = pd.read_csv(manifest, keep_default_na=False)
    table["label"] = np.random.default_rng(5).permutation(table["label"].to_numpy())[::-1]
    table.to_csv(manifest, index=False)
    config = tiny_config(
        pipeline_data,
        copy_run(plain_run[0].run_dir, tmp_path / "scrambled"),  # the plain config's segmenter
        similarity=WITHOUT_SIMILARITY,
        data={"evaluation": str(scrambled)},
    )
    choices = []
    for _, selection in (plain_selection, _select(config)):
        choices.append((selection.chosen, [row["score"] for row in selection.rows]))
    assert choices[0] == choices[1]


@pytest.mark.slow
def test_one_known_disease_keeps_the_configured_settings(plain_run, pipeline_data, tmp_path):
    import shutil

    single = tmp_path / "known"
    shutil.copytree(pipeline_data / "known", single)
    known = pd.read_csv(single / "manifest.csv", keep_default_na=False)
    known[known["label"].isin(["normal", "glaucoma"])].to_csv(single / "manifest.csv", index=False)
    # The segmenter reads only the lesion set, which this run shares with the plain run.
    config = tiny_config(
        pipeline_data,
        copy_run(plain_run[0].run_dir, tmp_path / "run"),
        similarity={"enabled": False, "most_similar": "glaucoma"},
        data={"known": str(single)},
        diagnosis={"focus": "overlay"},
    )
    _, selection = _select(config)
    assert selection.rows == []
    assert "1 known disease" in selection.fallback
    assert selection.chosen["focus"] == "overlay"


def test_nearest_diseases_pairs_each_disease_with_its_closest_other():
    labels = np.array(["normal"] * 3 + ["a"] * 3 + ["b"] * 3 + ["c"] * 3)
    rows = [[0, 0, 0], [1, 0, 0], [1, 0.2, 0], [0, 0, 1]]
    features = np.repeat(np.array(rows, float), 3, axis=0)
    pairs = nearest_diseases(features, labels, "normal")
    assert pairs["a"] == "b" and pairs["b"] == "a"


@pytest.mark.slow
def test_a_run_with_select_applies_the_choice(plain_run, pipeline_data, tmp_path):
    config = tiny_config(
        pipeline_data,
        copy_run(plain_run[0].run_dir, tmp_path / "run"),  # its segmenter and masks: cached
        similarity=WITHOUT_SIMILARITY,
        seeds=[0],
        diagnosis={"select": True, "select_images": 4},
    )
    pipeline = Pipeline.from_config(config, progress=False)
    pipeline.run()
    chosen = json.loads((pipeline.run_dir / "select" / "choice.json").read_text())["chosen"]
    metrics = json.loads((pipeline.run_dir / "results" / "metrics.json").read_text())
    assert metrics["focus"] == chosen["focus"] and metrics["adapt"] == chosen["adapt"]
    assert metrics["selected"] is True
    fit = json.loads((pipeline.run_dir / "diagnosis" / "seed0" / "fit.json").read_text())
    assert fit["operating_point"] == chosen["operating_point"]
    assert fit["evidence"] == chosen["evidence"]
    again = Pipeline.from_config(config, progress=False).run()
    assert "selection" in again.skipped and "features" in again.skipped
