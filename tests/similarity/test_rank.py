"""Ranking a target the model never saw: the toy set's answer is obvious."""

import json

import numpy as np
import pytest

from rura.data.manifest import Manifest
from rura.errors import RuraError
from rura.similarity.rank import RankSettings, rank_classes, rank_similarity, read_result
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


def _clear_case(n=8, seed=0):
    """By probability 0 > 1 > 2 > 3 for every image; by prototype distance 3 < 1 < 2 < 0."""
    rng = np.random.default_rng(seed)
    per_image = np.column_stack([np.full(n, p) for p in (0.9, 0.7, 0.5, 0.2)])
    per_image += rng.normal(0, 0.01, per_image.shape)
    target = rng.normal(0, 0.05, (n, 2))
    prototypes = np.array([[1.0, 0.0], [0.4, 0.0], [0.7, 0.0], [0.1, 0.0]])
    return per_image, target, prototypes


def test_each_criterion_orders_by_what_it_names():
    per_image, target, prototypes = _clear_case()
    kwargs = dict(bootstrap=200, seed=0)
    by_probability = rank_classes(per_image, target, prototypes, rank_by="probability", **kwargs)
    by_prototype = rank_classes(per_image, target, prototypes, rank_by="prototype", **kwargs)
    both = rank_classes(per_image, target, prototypes, rank_by="both", **kwargs)
    assert by_probability.order == [0, 1, 2, 3] and by_prototype.order == [3, 1, 2, 0]
    assert both.order == [1, 0, 3, 2]  # mean ranks 1, 1.5, 1.5, 2; ties to the higher probability
    assert by_probability.firsts == {"probability": 0, "prototype": 3, "both": 1}
    assert by_probability.confidence.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert by_prototype.confidence[3] == 1.0 and both.confidence[1] == 1.0


def test_confidence_is_the_share_of_resamples_each_class_wins():
    n = 10
    per_image = np.zeros((n, 2))
    per_image[:, 0] = np.where(np.arange(n) < 6, 0.8, 0.3)  # class 0 wins on 6 images
    per_image[:, 1] = np.where(np.arange(n) < 6, 0.4, 0.9)
    target, prototypes = np.zeros((n, 2)), np.array([[1.0, 0.0], [2.0, 0.0]])
    ranking = rank_classes(
        per_image, target, prototypes, rank_by="probability", bootstrap=500, seed=3
    )
    assert ranking.order == [0, 1]  # mean 0.6 against 0.6: a near tie over the full sample
    assert ranking.confidence.sum() == pytest.approx(1.0)
    assert 0.2 < ranking.confidence[0] < 0.8  # neither wins every resample
    again = rank_classes(
        per_image, target, prototypes, rank_by="probability", bootstrap=500, seed=3
    )
    assert again.confidence.tolist() == ranking.confidence.tolist()


def test_no_confidence_without_resamples_or_with_one_target_image():
    per_image, target, prototypes = _clear_case()
    none = rank_classes(per_image, target, prototypes, rank_by="both", bootstrap=0, seed=0)
    one = rank_classes(per_image[:1], target[:1], prototypes, rank_by="both", bootstrap=100, seed=0)
    assert none.confidence is None and one.confidence is None
    with pytest.raises(RuraError, match="rank_by='nearest'"):
        rank_classes(per_image, target, prototypes, rank_by="nearest", bootstrap=0, seed=0)


def test_the_result_carries_confidence_margin_and_each_criterions_first(trained, tmp_path):
    manifest, model = trained
    settings = RankSettings(target="crimson", normal="", bootstrap=300, progress=False)
    result = rank_similarity(model, manifest, settings, None)
    first, second = result["ranking"][:2]
    assert result["confidence"] == first["confidence"] and result["rank_by"] == "probability"
    assert sum(row["confidence"] for row in result["ranking"]) == pytest.approx(1.0)
    assert result["margin"] == {
        "probability": first["mean_probability"] - second["mean_probability"],
        "prototype_distance": second["prototype_distance"] - first["prototype_distance"],
    }
    assert result["firsts"]["probability"] == result["most_similar"]
    assert set(result["firsts"]) == {"probability", "prototype", "both"}
    assert (result["warning"] is None) == (result["confidence"] >= 0.8)
    by_prototype = rank_similarity(
        model, manifest, RankSettings(**{**vars(settings), "rank_by": "prototype"}), None
    )
    assert by_prototype["most_similar"] == result["firsts"]["prototype"]


def test_one_target_image_or_a_low_confidence_is_a_warning(trained, toy, tmp_path):
    manifest, model = trained
    known = manifest.subset(manifest.table["label"] != "crimson")
    single = tmp_path / "one"
    single.mkdir()
    (single / "0.png").write_bytes((toy / "crimson" / "0.png").read_bytes())
    settings = RankSettings(target="mystery", target_images=single, progress=False)
    result = rank_similarity(model, known, settings, None)
    assert result["confidence"] is None and "rests on one target image" in result["warning"]
    strict = RankSettings(target="crimson", normal="", min_confidence=1.0, progress=False)
    result = rank_similarity(model, manifest, strict, None)
    if result["confidence"] < 1.0:
        assert f"ranks first in {result['confidence']:.0%} of 1000 resamples" in result["warning"]
    else:
        assert result["warning"] is None
