import numpy as np
import pytest
import torch

import rura
from rura.segmentation.inference import Predictor, blend_weights, tile_starts

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def test_tile_starts_cover_the_side_and_end_flush():
    assert tile_starts(64, 64, 0.25) == [0]
    assert tile_starts(160, 64, 0.25) == [0, 48, 96]
    starts = tile_starts(100, 64, 0.5)
    assert starts[0] == 0 and starts[-1] == 36
    assert (blend_weights(8) > 0).all()


class Pointwise(torch.nn.Module):
    """A 1x1 convolution: no context, so tiles must reproduce the whole image exactly."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return self.conv(x)


def _images(side, n=2):
    return np.random.default_rng(0).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def test_tiling_reproduces_a_context_free_model_exactly():
    images = _images(160)
    whole = Predictor(Pointwise(), mean=MEAN, std=STD)(images)
    tiled = Predictor(Pointwise(), mean=MEAN, std=STD, tile=64, batch_size=3)(images)
    assert tiled.shape == whole.shape == (2, 2, 160, 160)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_tiling_equals_whole_image_prediction_of_a_unet_within_tolerance():
    """A random U-Net's wide receptive field sees tile borders; a shallow one, mostly not."""
    torch.manual_seed(0)
    model = rura.create_segmenter(
        "unet",
        encoder="resnet18",
        num_classes=2,
        weights="none",
        encoder_depth=3,
        decoder_channels=(64, 32, 16),
    )
    for module in model.modules():  # fresh BatchNorm statistics: outputs in a sane range
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
    images = _images(128, n=1)
    whole = Predictor(model, mean=MEAN, std=STD)(images)
    tiled = Predictor(model, mean=MEAN, std=STD, tile=96, overlap=0.5)(images)
    assert np.abs(tiled - whole).mean() < 0.015
    assert ((tiled > 0.5) == (whole > 0.5)).mean() > 0.97


def test_whole_images_not_a_multiple_of_32_are_padded_and_cut_back():
    probs = Predictor(Pointwise(), mean=MEAN, std=STD)(_images(50))
    assert probs.shape == (2, 2, 50, 50)
    assert ((probs >= 0) & (probs <= 1)).all()


@pytest.mark.parametrize("side", [64, 96])
def test_tile_as_large_as_the_image_is_whole_image_prediction(side):
    images = _images(side, n=1)
    whole = Predictor(Pointwise(), mean=MEAN, std=STD)(images)
    same = Predictor(Pointwise(), mean=MEAN, std=STD, tile=side)(images)
    np.testing.assert_array_equal(whole, same)


def test_restrict_to_retina_clears_the_rim_the_outside_and_the_optic_disc():
    from rura.segmentation.inference import restrict_to_retina

    side = 100
    ys, xs = np.mgrid[:side, :side]
    fov = (ys - 50) ** 2 + (xs - 50) ** 2 < 45**2
    od = (((ys - 50) ** 2 + (xs - 25) ** 2) < 8**2).astype(np.float32)
    probs = np.ones((2, side, side), np.float32)
    kept = restrict_to_retina(probs, fov, erode=0.05)
    assert kept.shape == probs.shape and kept[:, 50, 50].tolist() == [1.0, 1.0]
    assert not kept[:, ~fov].any() and not kept[:, 50, 93].any()  # outside, and 2 px off the rim
    without_disc = restrict_to_retina(probs, fov, od=od, erode=0.0)
    assert not without_disc[:, 50, 25].any() and not without_disc[:, 50, 33].any()  # disc + margin
    assert without_disc[:, 50, 70].all()


def test_predictor_from_config_normalises_and_returns_lesion_channels_only():
    model = Pointwise()  # two channels: one lesion, then the optic disc as context
    config = {
        "lesions": ["ma"],
        "context": ["od"],
        "preprocessing": {
            "size": 64, "mean": MEAN, "std": STD, "normalize": "background", "fov_erode": 0.02,
        },
    }  # fmt: skip
    predictor = Predictor.from_config(model, config)
    assert predictor.normalize == "background" and predictor.od_channel == 1
    ys, xs = np.mgrid[:64, :64]
    disc = ((ys - 32) ** 2 + (xs - 32) ** 2 < 28**2)[..., None]
    images = np.where(disc, _images(64), 0).astype(np.uint8)
    probs = predictor(images)
    assert probs.shape == (2, 1, 64, 64)
    assert not probs[:, :, 0, 0].any()  # outside the field of view: never a lesion
