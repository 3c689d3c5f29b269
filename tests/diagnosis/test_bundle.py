"""The pipeline bundle: round trip, exact backbone features, atomic replacement, clear errors."""

import json
import shutil

import numpy as np
import pytest

from rura.diagnosis.bundle import FORMAT, load_bundle, save_bundle
from rura.errors import RuraError
from rura.features.embed import embed
from tests.diagnosis.conftest import EMBED, LESIONS


def test_a_saved_bundle_loads_with_its_settings_and_parts(pipeline):
    bundle = load_bundle(pipeline.bundle)
    assert (bundle.target, bundle.normal, bundle.backbone) == ("mild_dr", "normal", "resnet18")
    assert (bundle.focus, bundle.lesions, bundle.seed) == ("overlay", LESIONS, EMBED["seed"])
    assert bundle.image_size == 64 and bundle.similar_disease == "hypertensive_retinopathy"
    assert bundle.segmenter_lesions() == LESIONS
    assert sorted(p.name for p in pipeline.bundle.iterdir()) == [
        "backbone.safetensors", "diagnoser", "pipeline.json", "segmenter",
    ]  # fmt: skip
    assert sorted(p.name for p in bundle.segmenter.iterdir()) == [
        "config.json", "model.safetensors",
    ]  # fmt: skip
    config = json.loads((pipeline.bundle / "pipeline.json").read_text())
    assert config["format"] == FORMAT and config["segmenter"] == "segmenter"
    diagnoser = bundle.load_diagnoser()
    assert np.array_equal(
        diagnoser.score(pipeline.features), pipeline.diagnoser.score(pipeline.features)
    )
    plain = load_bundle(pipeline.plain_bundle)
    assert plain.segmenter is None and plain.focus == "none" and plain.segmenter_lesions() == ()
    assert not (pipeline.plain_bundle / "segmenter").exists()


def test_features_through_the_bundle_equal_the_original_ones(pipeline, tmp_path):
    from rura.data.manifest import Manifest

    bundle = load_bundle(pipeline.plain_bundle)
    data = Manifest.read_csv(pipeline.data / "manifest.csv")
    settings = {**EMBED, "weights": str(bundle.backbone_weights), "seed": bundle.seed}
    through = embed(data, tmp_path / "bundle", **settings).features
    assert np.array_equal(through, pipeline.plain_features)
    # The seed matters for random weights: the bundle must have kept the pipeline's.
    other = embed(data, tmp_path / "other-seed", **{**EMBED, "seed": EMBED["seed"] + 1}).features
    assert not np.allclose(other, pipeline.plain_features)


@pytest.mark.slow
def test_saving_again_replaces_the_bundle_and_leaves_no_temporary_folder(pipeline, tmp_path):
    out = tmp_path / "model"
    common = dict(diagnoser=pipeline.plain_diagnoser, backbone="resnet18", weights="none", seed=0)
    save_bundle(out, target="mild_dr", normal="normal", **common)
    save_bundle(out, target="moderate_dr", normal="normal", **common)
    assert load_bundle(out).target == "moderate_dr"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(RuraError, match="not a pipeline model"):
        save_bundle(tmp_path / "other", target="a", normal="b", **common)
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"


def test_save_refuses_what_cannot_diagnose(pipeline, tmp_path):
    from rura.diagnosis import ZeroShotDiagnoser

    common = dict(backbone="resnet18", weights="none", seed=0, target="a", normal="b")
    with pytest.raises(RuraError, match="needs a segmenter"):
        save_bundle(tmp_path / "m", diagnoser=pipeline.diagnoser, focus="masked", **common)
    with pytest.raises(RuraError, match="not fitted"):
        save_bundle(tmp_path / "m", diagnoser=ZeroShotDiagnoser("kmeans"), **common)
    with pytest.raises(RuraError, match="not ex"):
        save_bundle(
            tmp_path / "m", diagnoser=pipeline.diagnoser, focus="masked", lesions=("ex",),
            segmenter_dir=pipeline.segmenter, **common,
        )  # fmt: skip
    with pytest.raises(RuraError, match="two different names"):
        save_bundle(tmp_path / "m", diagnoser=pipeline.diagnoser, **{**common, "normal": "a"})
    assert not (tmp_path / "m").exists()


def _one_line(error):
    message = str(error.value)
    assert "\n" not in message
    return message


def test_load_errors_are_one_line_and_name_the_folder(pipeline, tmp_path):
    with pytest.raises(RuraError) as error:
        load_bundle(tmp_path / "absent")
    assert "no such model folder" in _one_line(error)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuraError) as error:
        load_bundle(tmp_path / "empty")
    assert "not a rura pipeline model" in _one_line(error) and "empty" in str(error.value)
    with pytest.raises(RuraError, match="not a rura pipeline model"):
        load_bundle(pipeline.data / "manifest.csv")
    copy = tmp_path / "copy"
    copy.mkdir()
    config = json.loads((pipeline.bundle / "pipeline.json").read_text())
    (copy / "pipeline.json").write_text(json.dumps({**config, "format": "rura-pipeline-model/9"}))
    with pytest.raises(RuraError) as error:
        load_bundle(copy)
    assert "rura-pipeline-model/9" in _one_line(error)
    (copy / "pipeline.json").write_text(json.dumps(config))
    with pytest.raises(RuraError) as error:
        load_bundle(copy)
    assert "backbone.safetensors is missing" in _one_line(error)
    shutil.copy(pipeline.bundle / "backbone.safetensors", copy)
    shutil.copytree(pipeline.bundle / "diagnoser", copy / "diagnoser")
    with pytest.raises(RuraError, match=r"segmenter/config\.json is missing"):
        load_bundle(copy)
    (copy / "pipeline.json").write_text("{not json")
    with pytest.raises(RuraError, match="not valid JSON"):
        load_bundle(copy)
