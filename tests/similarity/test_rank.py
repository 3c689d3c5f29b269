"""Ranking a target the model never saw: the toy set's answer is obvious."""

import json

import pytest

from rura.data.manifest import Manifest
from rura.errors import RuraError
from rura.similarity.rank import RankSettings, rank_similarity, read_result
from rura.similarity.train import TrainSettings, train_similarity
from tests.similarity.test_train import FROZEN


@pytest.fixture
def trained(toy, tmp_path):
    manifest = Manifest.read_csv(toy / "manifest.csv")
    settings = TrainSettings(epochs=4, **{**FROZEN, "pairs_per_epoch": 256})
    train_similarity(manifest, tmp_path / "model", settings, progress=False)
    return manifest, tmp_path / "model"


def test_darker_red_is_most_like_red(trained, tmp_path):
    manifest, model = trained
    settings = RankSettings(target="crimson", normal="", progress=False)
    result = rank_similarity(model, manifest, settings, tmp_path / "rank")
    assert result["most_similar"] == "red"
    assert [r["rank"] for r in result["ranking"]] == [1, 2, 3, 4]
    assert result["ranking"][0]["mean_probability"] >= result["ranking"][1]["mean_probability"]
    assert read_result(tmp_path / "rank") == json.loads(
        (tmp_path / "rank/similarity.json").read_text()
    )
    matrix = (tmp_path / "rank" / "similarity_matrix.csv").read_text().splitlines()
    assert matrix[0].startswith("class,crimson,") and len(matrix) == 6
    assert (tmp_path / "rank" / "similarity_matrix.png").read_bytes()[:4] == b"\x89PNG"
    again = rank_similarity(model, manifest, settings, None)
    assert again["ranking"] == result["ranking"]


def test_normal_is_shown_but_never_a_candidate(trained):
    manifest, model = trained
    result = rank_similarity(
        model, manifest, RankSettings(target="crimson", normal="red", progress=False), None
    )
    assert result["normal"]["class"] == "red" and "rank" not in result["normal"]
    assert "red" not in [r["class"] for r in result["ranking"]]


def test_target_images_from_a_folder(trained, toy):
    manifest, model = trained
    known = manifest.subset(manifest.table["label"] != "crimson")
    settings = RankSettings(target="mystery", target_images=toy / "crimson", progress=False)
    result = rank_similarity(model, known, settings, None)
    assert result["most_similar"] == "red" and result["n_target_images"] == 6


def test_refuses_a_target_the_model_trained_on(trained):
    manifest, model = trained
    with pytest.raises(RuraError, match="trained on 'red'"):
        rank_similarity(model, manifest, RankSettings(target="red", progress=False), None)
    with pytest.raises(RuraError, match="no images labelled 'mauve'"):
        rank_similarity(model, manifest, RankSettings(target="mauve", progress=False), None)
