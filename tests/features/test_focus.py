"""Focus renderers: what the backbone sees of an image and its lesion masks."""

import numpy as np
import pytest

from rura.features.focus import lesion_burden, remove_small_components, render_focus


@pytest.fixture
def image_and_masks():
    pixels = np.full((20, 20, 3), 100, np.uint8)
    ma = np.zeros((20, 20), bool)
    ma[2, 2] = True  # one-pixel microaneurysm
    he = np.zeros((20, 20), bool)
    he[10:14, 10:14] = True  # 16-pixel haemorrhage
    return pixels, {"ma": ma, "he": he}


def test_none_returns_the_image(image_and_masks):
    pixels, masks = image_and_masks
    assert render_focus(pixels, masks, "none") is pixels


def test_masked_keeps_lesion_pixels_on_black(image_and_masks):
    pixels, masks = image_and_masks
    out = render_focus(pixels, masks, "masked")
    assert out[2, 2].tolist() == [100, 100, 100] and out[11, 11].tolist() == [100] * 3
    assert out.sum() == 17 * 3 * 100


def test_small_components_are_removed_before_masking(image_and_masks):
    pixels, masks = image_and_masks
    out = render_focus(pixels, masks, "masked", min_pixels=4)
    assert out[2, 2].sum() == 0 and out[11, 11].sum() > 0
    assert remove_small_components(masks["ma"], 2).sum() == 0


def test_mask_overlay_and_crop(image_and_masks):
    pixels, masks = image_and_masks
    mask = render_focus(pixels, masks, "mask")
    assert set(np.unique(mask)) == {0, 255} and mask[11, 11, 0] == 255
    overlay = render_focus(pixels, masks, "overlay")
    assert overlay[11, 11, 2] < overlay[11, 11, 0] and overlay[0, 0].tolist() == [100] * 3
    crop = render_focus(pixels, masks, "crop")
    assert crop.shape == pixels.shape
    assert render_focus(pixels, {"ma": np.zeros((20, 20), bool)}, "crop").sum() == 0


def test_unknown_focus_is_refused(image_and_masks):
    pixels, masks = image_and_masks
    with pytest.raises(ValueError, match="'segmented' is not one of none, masked"):
        render_focus(pixels, masks, "segmented")
    with pytest.raises(ValueError, match="render one focus at a time"):
        render_focus(pixels, masks, "two-stream")


def test_lesion_burden_is_a_fraction_of_the_field_of_view(image_and_masks):
    _, masks = image_and_masks
    fov = np.zeros((20, 20), bool)
    fov[:, :10] = True  # the haemorrhage lies outside the field of view
    assert lesion_burden(masks, fov) == {"ma": 1 / 200, "he": 0.0}


def test_weighted_focus_keeps_the_whole_image_and_brightens_lesions():
    pixels = np.full((64, 64, 3), 200, np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[30:34, 30:34] = True
    out = render_focus(pixels, {"ma": mask}, "weighted")
    assert out.dtype == np.uint8 and out.shape == pixels.shape
    assert out[32, 32, 0] > 190  # on the lesion: nearly as taken
    assert out[0, 0, 0] == round(200 * 0.35)  # far away: dimmed, not black
    assert (out > 0).all()  # nothing is cut out
