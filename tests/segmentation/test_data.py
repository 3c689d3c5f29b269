"""Training data for the segmenter: masks must have their image's size, never resized to fit."""

import numpy as np
import pytest
from PIL import Image

from rura.data import Manifest, ManifestError
from rura.data.images import load_image, read_image_size
from rura.segmentation.data import WholeImages, load_example
from rura.segmentation.predict import source_geometry


def _fundus(path, width, height):
    """A bright disc on black, noisy enough that JPEG keeps it a photo."""
    yy, xx = np.mgrid[:height, :width]
    disc = (yy - height / 2) ** 2 + (xx - width / 2) ** 2 < (min(width, height) / 2.2) ** 2
    pixels = np.random.default_rng(0).integers(60, 200, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels * disc[..., None].astype(np.uint8)).save(path, quality=90)


def _manifest(root):
    return Manifest.from_records(
        [{"id": "eye", "path": "eye.png", "label": "", "mask_ma": "eye_ma.png"}], root
    )


def test_a_downsampled_mask_is_refused_not_trained_misaligned(tmp_path):
    _fundus(tmp_path / "eye.png", 64, 64)
    Image.new("L", (32, 32), 255).save(tmp_path / "eye_ma.png")
    manifest = _manifest(tmp_path)
    with pytest.raises(ManifestError) as caught:
        load_example(manifest, 0, ("ma",), 32)
    text = str(caught.value)
    assert "eye_ma.png: the mask is 32x32 px but its image" in text and "eye.png is 64x64" in text
    assert "resize the mask to the image or fix the mask_ma column" in text
    dataset = WholeImages(manifest, ("ma",), size=32, mean=(0, 0, 0), std=(1, 1, 1))
    with pytest.raises(ManifestError, match="the mask is 32x32 px"):
        dataset[0]
    Image.new("L", (64, 64), 255).save(tmp_path / "eye_ma.png")
    pixels, masks = load_example(manifest, 0, ("ma",), 32)
    assert pixels.shape == (32, 32, 3) and masks.shape == (1, 32, 32)


def test_masks_predicted_at_the_source_size_load_at_any_decoding_scale(tmp_path):
    # 203x197 decodes at 1/2 or 1/4 for small sizes: a scaled-back size would be off by pixels
    _fundus(tmp_path / "eye.jpg", 203, 197)
    loaded = load_image(tmp_path / "eye.jpg", size=48)
    prediction = source_geometry(np.ones((48, 48), np.float32), loaded)  # as predict writes it
    assert prediction.shape == (197, 203) == read_image_size(tmp_path / "eye.jpg")[::-1]
    Image.fromarray((prediction > 0.5).astype(np.uint8) * 255).save(tmp_path / "eye_ma.png")
    manifest = Manifest.from_records(
        [{"id": "eye", "path": "eye.jpg", "label": "", "mask_ma": "eye_ma.png"}], tmp_path
    )
    for size in (32, 48, 96, 256):
        _, masks = load_example(manifest, 0, ("ma",), size)
        assert masks.shape == (1, size, size) and masks.any()
