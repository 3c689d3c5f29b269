"""A tiny pipeline and its bundle, built once per session: SynthFundus at 64 px, a one-epoch
segmenter, random-init resnet18 features with the lesions tinted in, a k-means diagnoser."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rura.data.synth import generate

CLASSES = ["mild_dr", "hypertensive_retinopathy", "normal"]
LESIONS = ("ma", "he", "cws")
EMBED = {
    "backbone": "resnet18",
    "weights": "none",
    "image_size": 64,
    "batch_size": 4,
    "workers": 0,
    "seed": 3,
    "progress": False,
}


@dataclass
class Pipeline:
    """What a pipeline run leaves: its data, features, diagnoser and bundle."""

    data: Path
    segmenter: Path
    features: np.ndarray
    ids: list[str]
    diagnoser: object
    bundle: Path
    plain_features: np.ndarray  # focus none
    plain_diagnoser: object
    plain_bundle: Path  # focus none, no segmenter


def build_pipeline(root: Path) -> Pipeline:
    from rura.diagnosis import ZeroShotDiagnoser
    from rura.diagnosis.bundle import save_bundle
    from rura.features.embed import embed
    from rura.segmentation import TrainSettings, predict_segmentation, train_segmenter

    data = generate(root / "data", size=64, per_class=2, classes=CLASSES, workers=1)
    settings = TrainSettings(
        lesions=LESIONS, encoder="resnet18", weights="none", size=64, patch=64,
        patches_per_image=1, epochs=1, batch_size=4, val_fraction=0.34, seed=0,
    )  # fmt: skip
    train_segmenter(data, root / "segmenter", settings, progress=False)
    masked = predict_segmentation(root / "segmenter", data, root / "pred", progress=False)
    store = embed(masked, root / "feats", focus="overlay", lesions=LESIONS, **EMBED)
    features = np.array(store.features)
    normal = (masked.table["label"] == "normal").to_numpy()
    diagnoser = ZeroShotDiagnoser("kmeans", seed=0).fit(features, reference=features[normal])
    common = dict(
        diagnoser=diagnoser, backbone="resnet18", weights="none", seed=EMBED["seed"],
        target="mild_dr", normal="normal", image_size=64,
        similar_disease="hypertensive_retinopathy",
    )  # fmt: skip
    bundle = save_bundle(
        root / "model", focus="overlay", lesions=LESIONS, segmenter_dir=root / "segmenter",
        **common,
    )  # fmt: skip
    plain_store = embed(data, root / "plain-feats", **EMBED)
    plain_features = np.array(plain_store.features)
    plain_diagnoser = ZeroShotDiagnoser("kmeans", seed=0).fit(
        plain_features, reference=plain_features[normal]
    )
    plain = save_bundle(root / "plain-model", **{**common, "diagnoser": plain_diagnoser})
    return Pipeline(
        root / "data", root / "segmenter", features, list(masked.table["id"]), diagnoser,
        bundle, plain_features, plain_diagnoser, plain,
    )  # fmt: skip


_BUILT: list[Pipeline] = []


def shared_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """The session's pipeline, built on first use (tests elsewhere import this)."""
    if not _BUILT:
        _BUILT.append(build_pipeline(tmp_path_factory.mktemp("pipeline")))
    return _BUILT[0]


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> Pipeline:
    return shared_pipeline(tmp_path_factory)
