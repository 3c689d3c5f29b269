"""Fundus normalisation: each step on a real photo, the field of view, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.data import retina

from rura.data.normalize import (
    NEUTRAL,
    field_of_view_mask,
    normalize_fundus,
    normalize_name,
    parse_normalize,
)
from rura.errors import RuraError


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """The CC0 retina photo at 256 px (a real fundus on its black background)."""
    from PIL import Image

    return np.asarray(Image.fromarray(retina()).resize((256, 256), Image.Resampling.BILINEAR))


def test_names_parse_and_unknown_steps_are_one_line_errors():
    assert parse_normalize("none") == () and parse_normalize(None) == ()
    assert parse_normalize("Background + CLAHE") == ("background", "clahe")
    assert normalize_name(["standardize"]) == "standardize" and normalize_name("") == "none"
    with pytest.raises(RuraError, match=r"unknown normalisation step 'gamma'.*background"):
        parse_normalize("background+gamma")


def test_field_of_view_is_the_disc_of_the_fundus(photo):
    fov = field_of_view_mask(photo)
    assert 0.6 < fov.mean() < 0.85  # a circle in a square covers pi/4
    assert not fov[0, 0] and not fov[-1, -1] and fov[128, 128]
    eroded = field_of_view_mask(photo, erode=0.05)
    assert eroded.sum() < fov.sum() and not (eroded & ~fov).any()
    assert not field_of_view_mask(np.zeros((64, 64, 3), np.uint8)).any()


def test_background_removes_illumination_and_colour_cast(photo):
    fov = field_of_view_mask(photo)
    ramp = np.linspace(0.35, 1.0, photo.shape[1], dtype=np.float32)[None, :, None]
    cast = np.array([0.8, 1.0, 1.3], np.float32)
    shifted = (photo * ramp * cast).clip(0, 255).astype(np.uint8)  # uneven, blue-cast, darker
    before = np.abs(photo[fov].mean(0) - shifted[fov].mean(0)).max()
    a, b = normalize_fundus(photo, "background"), normalize_fundus(shifted, "background")
    assert np.abs(a[fov].mean(0) - NEUTRAL).max() < 8  # every channel centred on grey
    after = np.abs(a[fov].astype(float).mean(0) - b[fov].astype(float).mean(0)).max()
    assert after < before / 4
    left, right = b[fov & (np.arange(256) < 100)], b[fov & (np.arange(256) > 156)]
    assert abs(left.mean() - right.mean()) < 6  # the left-to-right ramp is gone
    assert (a[~fov] == NEUTRAL).all()  # no rim edge for a network to mistake for a lesion


def test_clahe_lifts_a_dark_photo_and_keeps_the_outside(photo):
    dark = (photo * 0.3).astype(np.uint8)
    out = normalize_fundus(dark, "clahe")
    fov = field_of_view_mask(dark)
    assert out[fov].mean() > dark[fov].mean() * 1.3
    assert (out[~fov] == dark[~fov]).all()


def test_standardize_and_chains_are_deterministic_uint8(photo):
    out = normalize_fundus(photo, "standardize")
    fov = field_of_view_mask(photo)
    assert out.dtype == np.uint8 and np.abs(out[fov].mean(0) - NEUTRAL).max() < 3
    chain = normalize_fundus(photo, "background+clahe")
    assert chain.shape == photo.shape and np.array_equal(
        chain, normalize_fundus(photo, "background+clahe")
    )
    assert normalize_fundus(photo, "none") is photo
