"""One loader sets a saved segmenter up for ``segment eval`` and ``predict``, settings checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rura.errors import RuraError
from rura.segmentation import evaluate_segmenter, predict_segmentation
from rura.segmentation.predict import resolve_images
from rura.segmentation.store import CONFIG, build_model, load_predictor, save_config, save_weights

from .conftest import LESIONS


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """A saved, untrained 64-px segmenter with its own per-lesion thresholds."""
    folder = tmp_path_factory.mktemp("untrained") / "model"
    folder.mkdir()
    config = {
        "architecture": "unet",
        "encoder": "tu-mobilenetv3_small_100",
        "lesions": list(LESIONS),
        "context": [],
        "preprocessing": {"size": 64, "mean": [0.5] * 3, "std": [0.25] * 3},
        "threshold": 0.5,
        "thresholds": {"ma": 0.3},
    }
    save_weights(build_model(config), folder / "model.safetensors")
    save_config(folder, config)
    return folder


def _with_config(folder, tmp_path, **changes):
    """A copy of ``folder`` whose config has ``changes``."""
    import shutil

    copy = tmp_path / "changed"
    shutil.copytree(folder, copy)
    config = json.loads((copy / CONFIG).read_text())
    (copy / CONFIG).write_text(json.dumps({**config, **changes}))
    return copy


def test_the_loader_sets_the_model_up_as_saved_unless_told_otherwise(untrained):
    ready = load_predictor(untrained, device="cpu")
    assert ready.lesions == LESIONS and ready.size == 64
    assert ready.thresholds.tolist() == [0.3, 0.5, 0.5]
    assert ready.predictor.tile == 64 and ready.predictor.device == "cpu"
    probs = ready.predictor(np.zeros((1, 64, 64, 3), np.uint8))
    assert probs.shape == (1, len(LESIONS), 64, 64)
    ready = load_predictor(untrained, size=96, threshold=0.7, overlap=0.5, batch_size=2)
    assert ready.size == 96 and ready.thresholds.tolist() == [0.7] * 3
    assert (ready.predictor.overlap, ready.predictor.batch_size) == (0.5, 2)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"threshold": 1.5}, "threshold=1.5: must be between 0 and 1"),
        ({"threshold": 0.0}, "threshold=0.0: must be between 0 and 1"),
        ({"size": 8}, "size 8: must be 16 to 8192 px"),
        ({"overlap": 1.0}, "overlap 1.0: must be at least 0 and below 1"),
        ({"batch_size": 0}, "batch size 0: must be 1 or more"),
    ],
)
def test_bad_settings_are_refused_before_the_weights_are_read(
    untrained, monkeypatch, setting, message
):
    def unread(*args):
        raise AssertionError("the weights were read")

    monkeypatch.setattr("rura.segmentation.store._load_weights", unread)
    with pytest.raises(RuraError, match=message):
        load_predictor(untrained, **setting)


@pytest.mark.parametrize(
    "changes",
    [{"thresholds": {"he": 1.5}}, {"threshold": None}, {"thresholds": {"ma": "high"}}],
)
def test_a_models_own_bad_thresholds_are_one_line(untrained, tmp_path, changes):
    folder = _with_config(untrained, tmp_path, **changes)
    with pytest.raises(RuraError, match="mask thresholds must be numbers between 0 and 1") as error:
        load_predictor(folder)
    assert "\n" not in str(error.value)
    assert load_predictor(folder, threshold=0.4).thresholds.tolist() == [0.4] * 3


def test_eval_and_predict_check_the_threshold_alike(untrained, tiny_synth, tmp_path):
    images = resolve_images(tiny_synth.image_path(0))
    with pytest.raises(RuraError, match="threshold=2: must be between"):
        evaluate_segmenter(untrained, tiny_synth, threshold=2, progress=False)
    with pytest.raises(RuraError, match="threshold=2: must be between"):
        predict_segmentation(untrained, images, tmp_path / "pred", threshold=2, progress=False)
    assert not (tmp_path / "pred").exists()
