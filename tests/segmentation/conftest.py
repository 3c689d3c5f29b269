"""A tiny SynthFundus set and a segmenter trained on it once per session (resnet18, 64 px)."""

from __future__ import annotations

import pytest

from rura.data.synth import generate

CLASSES = ["mild_dr", "moderate_dr", "hypertensive_retinopathy", "normal"]
LESIONS = ("ma", "he", "cws")


def tiny_settings(**changes):
    from rura.segmentation import TrainSettings

    base = dict(
        lesions=LESIONS,
        encoder="tu-mobilenetv3_small_100",
        weights="none",
        size=64,
        patch=64,
        patches_per_image=2,
        epochs=2,
        batch_size=4,
        lr=3e-3,
        val_fraction=0.25,
        seed=0,
    )
    return TrainSettings(**{**base, **changes})


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """Eight 64-px images (two per class), all in the train split."""
    return generate(
        tmp_path_factory.mktemp("synth") / "data", size=64, per_class=2, classes=CLASSES
    )


@pytest.fixture(scope="session")
def tiny_model(tiny_synth, tmp_path_factory):
    """A two-epoch segmenter folder and its config."""
    from rura.segmentation import train_segmenter

    out = tmp_path_factory.mktemp("model") / "model"
    config = train_segmenter(tiny_synth, out, tiny_settings(), progress=False)
    return out, config
