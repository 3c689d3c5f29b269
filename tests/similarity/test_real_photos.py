"""The similarity stage on real photographs: IDRiD (4288 x 2848 JPEGs) and skimage's retina.

Known diseases come from SynthFundus; the target's pictures are real photographs at full size. A
tiny random-init network cannot say anything clinical here: the test checks that real sizes and
formats run end to end and that the ranking is well formed (docs/similarity.md shows what a
pretrained backbone makes of the same photographs).
"""

import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

from rura.data.manifest import Manifest
from rura.data.synth import generate
from rura.similarity.rank import HEATMAP_FILE, MATRIX_FILE, RankSettings, rank_similarity
from rura.similarity.train import TrainSettings, train_similarity
from tests.conftest import IDRID_20

PHOTOS = IDRID_20 / "A. Segmentation" / "1. Original Images" / "a. Training Set"
KNOWN = ["normal", "hypertensive_retinopathy", "glaucoma", "amd"]


@pytest.mark.slow
def test_real_photographs_as_the_target_rank_end_to_end(tmp_path):
    known: Manifest = generate(tmp_path / "known", size=64, per_class=4, seed=0, classes=KNOWN)
    target = tmp_path / "photos"
    target.mkdir()
    photos = sorted(PHOTOS.glob("IDRiD_*.jpg"))[:3]
    assert len(photos) == 3, f"the IDRiD-20 photographs are missing from {PHOTOS}"
    for photo in photos:
        (target / photo.name).write_bytes(photo.read_bytes())
    Image.fromarray(data.retina()).save(target / "skimage-retina.png")
    settings = TrainSettings(
        backbone="timm/test_resnet", weights="none", size=32, epochs=1, batch_size=8,
        pairs_per_epoch=32, val_pairs=16, embedding_dim=8, eval_images=8,
    )  # fmt: skip
    train_similarity(known, tmp_path / "model", settings, progress=False)
    ranking = RankSettings(target="dr", target_images=target, bootstrap=200, progress=False)
    result = rank_similarity(tmp_path / "model", known, ranking, tmp_path / "rank")

    assert result["n_target_images"] == 4
    assert [r["class"] for r in result["ranking"]] != [] and result["normal"]["class"] == "normal"
    assert sorted(r["class"] for r in result["ranking"]) == sorted(KNOWN[1:])
    for row in result["ranking"]:
        assert 0 <= row["mean_probability"] <= 1 and row["prototype_distance"] >= 0
        assert 0 <= row["confidence"] <= 1
    assert sum(r["confidence"] for r in result["ranking"]) == pytest.approx(1.0)
    assert result["most_similar"] == result["ranking"][0]["class"]
    assert json.loads((tmp_path / "rank" / "similarity.json").read_text()) == result
    matrix = np.loadtxt(tmp_path / "rank" / MATRIX_FILE, delimiter=",", skiprows=1,
                        usecols=range(1, 6))  # fmt: skip
    assert matrix.shape == (5, 5) and np.all((matrix >= 0) & (matrix <= 1))
    assert (tmp_path / "rank" / HEATMAP_FILE).read_bytes()[:4] == b"\x89PNG"
